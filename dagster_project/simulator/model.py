"""One simulated meter's state: consumption, balance, registers, clock drift, tariffs and logs.

The state advances lazily in half-hour steps on a fixed grid starting at the fleet's history
start (a UTC midnight). Step n draws its randomness from (seed, meter index, n) only, so the
state at a simulated instant is the same however often, or seldom, the meter was read.

Rules, per half-hour step (from the step's start s to its end s + 30 min):

* The tariff is the one active at s: a pending future set becomes active once the meter's own
  wall clock (UTC clock + drift, shown in Europe/London time when the DST flag is set) has
  reached its activation datetime.
* Top-up: with probability 10 % when the balance is under £5, 3 % under £10, else 0.2 %, a
  top-up of £5/£10/£20/£25/£30 lands at a random second inside the step; it adds event 48.
* Consumption (Wh) follows a daily shape; twin-element meters (C1.w) also run a night load
  (00:00-07:00 UTC) on element B. "Solar" meters export a little by day (element A export).
* Cost in 1/100 000 GBP, each term rounded half up: Wh_A x rate_A / 1000 + Wh_B x rate_B / 1000
  + standing_charge / 48. In prepay mode the balance falls by the cost; it may go below zero
  down to -emergency_credit, then supply stops: no consumption and no charges until a top-up.
  The step that reaches the floor is clipped: its energy shrinks in proportion to the credit
  left and the balance lands exactly on the floor. In credit mode (prepay disabled) the balance
  is left alone and supply never stops.
* A profile record is taken at the step's end (cumulative registers and the voltage); the log's
  first record, at the history start, has status 0x0001 (reset), every other 0x8000 (valid).
* At each UTC midnight a daily-snapshot event (38) is logged.
"""

from __future__ import annotations

import math
import struct
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.data import EVENT_PAGE_ENTRIES, EVENT_PAGES, ProfileStatus
from dagster_project.emop.errors import AckNak, DecodeError
from dagster_project.emop.tariffs import TARIFF_MONEY_FIELDS, Tariff, activation_from_emop_seconds
from dagster_project.simulator.clock import DAY_SECONDS, EMOP_EPOCH_UNIX, STEP_SECONDS
from dagster_project.simulator.identity import P_INIT, P_STEP, MeterSpec
from dagster_project.simulator.rng import Draws, key, mix64

LONDON = ZoneInfo("Europe/London")
EVENT_TOPUP = 48
EVENT_DAILY_SNAPSHOT = 38
EVENT_POWER_UP = 33
EVENT_LOG_CAPACITY = EVENT_PAGE_ENTRIES * EVENT_PAGES
TOPUP_POUNDS = (5, 10, 20, 25, 30)
MONEY = 100_000  # units per GBP
PENCE = 1_000  # units per penny
TOKEN_DIGITS = 20
#: A token credits its first five digits in pence (00000-99999, so up to £999.99).
TOKEN_AMOUNT_DIGITS = 5

# Indices into a tariff list; the order is tariffs.ACTIVE_TARIFF_OBJECTS's.
SC, RATE_A, RATE_B, AVAIL, DEBT, EC = range(6)
TARIFF_FIELDS = TARIFF_MONEY_FIELDS
TARIFF_PLANS = (
    (51_082, 23_456, 11_782, 1_000_000, 30_000, 1_500_000),
    (43_210, 27_511, 13_250, 1_000_000, 25_000, 1_500_000),
    (60_000, 24_500, 9_870, 500_000, 0, 1_000_000),
)

# Relative consumption per half-hour slot of the (UTC) day, and solar output by slot.
_SHAPE_BY_HOUR = (
    *(0.5, 0.4, 0.35, 0.35, 0.35, 0.4, 0.6, 1.2, 1.4, 1.0, 0.8, 0.8),
    *(0.9, 0.8, 0.8, 0.9, 1.1, 1.6, 1.9, 1.8, 1.6, 1.3, 1.0, 0.7),
)
SHAPE = tuple(weight for weight in _SHAPE_BY_HOUR for _ in range(2))
SOLAR = tuple(max(0.0, math.sin(math.pi * (slot - 14) / 22)) for slot in range(48))
NIGHT_SLOTS = 14  # 00:00-07:00 UTC: the twin meters' element-B load runs

VOLTAGE_MIN, VOLTAGE_MAX, VOLTAGE_MID = 2300, 2500, 2400
_LOG1 = struct.Struct("<IHII")
_LOG2 = struct.Struct("<IHIIII")
_LOG2_TWIN = struct.Struct("<IHIIIIIII")
_EVENT = struct.Struct("<IBB")
_REGISTERS = struct.Struct("<IIII")
PROFILE_BLOCK = 80
_U21 = (1 << 21) - 1
_SCALE21 = 1.0 / (1 << 21)
_CSQ_DROP = int(0.03 * (1 << 21))  # 3 % of half hours have a signal drop
FIELDS_PER_RECORD = 4  # import A, import B, export A, voltage


class Refused(Exception):
    """A request the meter answers with a NAK code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class GroundTruth:
    """What a correct client reads from a meter at `sim_time` (names follow emop.state)."""

    sim_time: datetime
    serial: str
    hardware: str
    firmware: str
    address: int
    clock_time_diff_seconds: int  # meter clock minus true time, whole seconds
    csq: int
    csq_operator: int
    voltage: Decimal
    element_a: v.ElementRegisters
    element_b: v.ElementRegisters
    prepay_balance: Decimal
    prepay_enabled: bool
    dst_enabled: bool
    tariffs_active: Tariff
    tariffs_future: Tariff

    @property
    def clock_drift_seconds(self) -> int:
        return self.clock_time_diff_seconds

    @property
    def operator(self) -> int:
        return self.csq_operator

    @property
    def dst(self) -> bool:
        return self.dst_enabled

    @property
    def emergency_credit(self) -> Decimal:
        return self.tariffs_active.prepayment_emergency_credit


def money(units: int) -> Decimal:
    return v.money_from_units(units)


def _tariff(values: list[int], activation: datetime | None = None) -> Tariff:
    return Tariff(
        **{name: money(values[i]) for i, name in enumerate(TARIFF_FIELDS)},
        activation_datetime=activation,
    )


class MeterModel:
    """The state of one meter. `t` arguments are simulated unix seconds (the model's time);
    `base` arguments are the instant the meter's clock object is read against (wall time when
    the model is frozen, simulated time otherwise)."""

    __slots__ = (
        "_log_limit",
        "_step_key",
        "_threshold",
        "activation",
        "active",
        "active_stored",
        "balance",
        "csq",
        "csq_base",
        "drift0",
        "drift_rate",
        "drift_t0",
        "dst_enabled",
        "event_sets",
        "events",
        "export_a",
        "future",
        "h0",
        "heater_wh",
        "import_a",
        "import_b",
        "k",
        "log",
        "log_capacity",
        "log_first",
        "mean_wh",
        "operator",
        "pending",
        "prepay_enabled",
        "solar",
        "solar_wh",
        "spec",
        "stored",
        "tokens",
        "topup_last",
        "topups",
        "twin",
        "voltage",
    )

    def __init__(
        self,
        spec: MeterSpec,
        seed: int,
        history_start: int,
        origin_day: int,
        profile_capacity: int = 2880,
    ) -> None:
        if history_start % STEP_SECONDS:
            raise ValueError("the history must start on a half-hour boundary")
        self.spec = spec
        self.twin = spec.twin_element
        self.solar = spec.solar
        self._step_key = key(seed, spec.index, P_STEP)
        self.h0 = history_start
        self.k = 0
        self.log_capacity = max(profile_capacity, 1)
        self._log_limit = FIELDS_PER_RECORD * (self.log_capacity + 48)  # trim in batches
        d = Draws(key(seed, spec.index, P_INIT))

        plan = list(d.choice(TARIFF_PLANS))
        plan[RATE_A] += d.randint(-2000, 2000)
        plan[RATE_B] += d.randint(-1000, 1000)
        self.active = plan
        roll = d.random()
        if roll < 0.4:  # a rise announced for a day after the origin
            rise = 1.0 + d.uniform(0.05, 0.15)
            self.future = [
                *(int(plan[i] * rise) for i in (SC, RATE_A, RATE_B)),
                plan[AVAIL],
                plan[DEBT],
                plan[EC],
            ]
            wall = origin_day + d.randint(1, 20) * DAY_SECONDS
            self.pending = True
        elif roll < 0.5:  # one that activates within the simulated history
            rise = 1.0 + d.uniform(0.03, 0.1)
            self.future = [
                *(int(plan[i] * rise) for i in (SC, RATE_A, RATE_B)),
                plan[AVAIL],
                plan[DEBT],
                plan[EC],
            ]
            wall = history_start + d.randint(1, 40) * STEP_SECONDS
            self.pending = True
        else:  # the last future set, activated long ago
            self.future = list(plan)
            wall = history_start - d.randint(10, 200) * DAY_SECONDS
            self.pending = False
        self.activation = wall - EMOP_EPOCH_UNIX
        # Stored objects beyond the six tariff values (the rest of the future set, settings):
        # object id -> payload, None until the first write, as most meters never get one.
        self.stored: dict[int, bytes] | None = None
        self.active_stored: dict[int, bytes] | None = None  # the active set's copy of them

        if d.random() < 0.05:
            self.balance = -d.randint(0, int(plan[EC] * 0.8))
        else:
            self.balance = d.randint(100, 6000) * PENCE
        self.import_a = d.randint(200_000, 8_000_000)
        self.import_b = d.randint(50_000, 3_000_000) if self.twin else 0
        self.export_a = d.randint(10_000, 900_000) if self.solar else 0
        self.mean_wh = d.uniform(80.0, 300.0)
        self.heater_wh = d.uniform(200.0, 1200.0) if self.twin else 0.0
        self.solar_wh = d.uniform(150.0, 900.0) if self.solar else 0.0
        self.voltage = d.randint(2330, 2470)
        self.csq_base = d.randint(8, 28)
        self.csq = self.csq_base
        self.operator = d.weighted((1, 2, 3, 4, 0), (40, 35, 10, 10, 5))
        self.prepay_enabled = spec.prepay_enabled
        self.dst_enabled = spec.dst_enabled

        kind = d.randint(0, 2)  # ahead, behind or accurate
        if kind == 2:
            self.drift_rate = 0.0
            self.drift0 = d.uniform(-1.0, 1.0)
        else:
            ppm = d.uniform(5.0, 60.0) * (1 if kind == 0 else -1)
            self.drift_rate = ppm * 1e-6
            self.drift0 = self.drift_rate * d.uniform(0, 40) * DAY_SECONDS
        self.drift_t0 = float(history_start)

        self.events: deque[tuple[int, int, int]] = deque(maxlen=EVENT_LOG_CAPACITY)
        self.event_sets = {EVENT_TOPUP: d.randint(0, 40), EVENT_DAILY_SNAPSHOT: d.randint(0, 200)}
        # The last top-up before the history; the transaction count is the top-up event's set
        # (a meter installed years ago has seen tens of them), and the amount one of the usual.
        self.topups = self.event_sets[EVENT_TOPUP]
        self.topup_last = (0, 0)
        earlier_topup = TOPUP_POUNDS[self.topups % len(TOPUP_POUNDS)] * MONEY
        self._topup(earlier_topup, history_start - d.randint(3600, 10 * DAY_SECONDS))
        self._event(EVENT_POWER_UP, history_start)
        self.tokens: set[str] | None = None

        self.log = array("I")
        self.log_first = 0
        self._record()
        self._threshold = 0.0
        self._update_threshold()

    # ------------------------------------------------------------ time and drift

    def drift(self, t: float) -> float:
        return self.drift0 + self.drift_rate * (t - self.drift_t0)

    def drift_seconds(self, t: float) -> int:
        """Meter clock minus true time at model time t, whole seconds."""
        return round(self.drift0 + self.drift_rate * (t - self.drift_t0))

    def clock_seconds(self, t: float, base: float) -> int:
        """The meter's clock reading (unix seconds, truncated) against the instant `base`."""
        return math.floor(base) + self.drift_seconds(t)

    def set_clock(self, t: float, base: float, meter_time: float) -> None:
        """A clock write: the meter's clock reads `meter_time` at `base` from now on."""
        self.drift0 = meter_time - base
        self.drift_t0 = t

    def _update_threshold(self) -> None:
        """The meter clock (UTC) at which the future set activates, under the DST flag."""
        wall = EMOP_EPOCH_UNIX + self.activation
        if self.dst_enabled:
            naive = datetime(1970, 1, 1) + timedelta(seconds=wall)
            self._threshold = naive.replace(tzinfo=LONDON).timestamp()
        else:
            self._threshold = float(wall)

    def _due(self, t: float) -> bool:
        return self.pending and t + self.drift(t) >= self._threshold

    def tariff_at(self, t: float) -> list[int]:
        """The active tariff values as the meter shows them at t."""
        return self.future if self._due(t) else self.active

    # ------------------------------------------------------------ stepping

    @property
    def model_seconds(self) -> int:
        """The grid instant the state describes (the end of the last step)."""
        return self.h0 + self.k * STEP_SECONDS

    def sync(self, t: float) -> None:
        """Advance the state to model time t (never backwards)."""
        target = int((t - self.h0) // STEP_SECONDS)
        while self.k < target:
            self._step()

    def _step(self) -> None:
        start = self.h0 + self.k * STEP_SECONDS
        end = start + STEP_SECONDS
        # Three 64-bit draws keyed by (seed, meter, step), cut into nine 21-bit uniforms.
        a = mix64(self._step_key ^ (self.k + 1))
        b = mix64(a)
        c = mix64(b)
        if self.pending and self._due(start):
            self._activate()
        tariff = self.active

        volts = self.voltage + (a & _U21) % 25 - 12 + (VOLTAGE_MID - self.voltage) // 16
        self.voltage = VOLTAGE_MIN if volts < VOLTAGE_MIN else min(VOLTAGE_MAX, volts)
        csq = self.csq_base + ((a >> 21) & _U21) % 5 - 2
        self.csq_base = csq = 3 if csq < 3 else min(31, csq)
        drop = (a >> 42) & _U21
        self.csq = drop % 5 if drop < _CSQ_DROP else csq

        balance = self.balance
        prepay = self.prepay_enabled
        if prepay:
            chance = 0.1 if balance < 5 * MONEY else 0.03 if balance < 10 * MONEY else 0.002
            if (b & _U21) * _SCALE21 < chance:
                amount = TOPUP_POUNDS[((b >> 21) & _U21) % len(TOPUP_POUNDS)] * MONEY
                balance += amount
                self._topup(amount, start + 1 + ((b >> 42) & _U21) % (STEP_SECONDS - 1))

        slot = (start % DAY_SECONDS) // STEP_SECONDS
        wh_a = int(self.mean_wh * SHAPE[slot] * (0.5 + (c & _U21) * _SCALE21))
        wh_b = 0
        if slot < NIGHT_SLOTS and self.twin:
            wh_b = int(self.heater_wh * (0.6 + 0.8 * ((c >> 21) & _U21) * _SCALE21))
        if self.solar:
            self.export_a += int(self.solar_wh * SOLAR[slot] * ((c >> 42) & _U21) * _SCALE21)
        if prepay:
            floor = -tariff[EC]
            if balance <= floor:  # supply off
                wh_a = wh_b = 0
            else:
                cost = (
                    (wh_a * tariff[RATE_A] + 500) // 1000
                    + (wh_b * tariff[RATE_B] + 500) // 1000
                    + (tariff[SC] + 24) // 48
                )  # each term rounded half up, in money units
                if balance - cost < floor:  # credit runs out within this half hour
                    share = (balance - floor) / cost
                    wh_a = int(wh_a * share)
                    wh_b = int(wh_b * share)
                    balance = floor
                else:
                    balance -= cost
        self.balance = balance
        self.import_a += wh_a
        self.import_b += wh_b
        self.k += 1
        log = self.log
        log.append(self.import_a)
        log.append(self.import_b)
        log.append(self.export_a)
        log.append(self.voltage)
        if len(log) > self._log_limit:
            self._trim()
        if end % DAY_SECONDS == 0:
            self._event(EVENT_DAILY_SNAPSHOT, end)

    def _record(self) -> None:
        self.log.extend((self.import_a, self.import_b, self.export_a, self.voltage))

    def _trim(self) -> None:
        drop = len(self.log) // FIELDS_PER_RECORD - self.log_capacity
        del self.log[: drop * FIELDS_PER_RECORD]
        self.log_first += drop

    def _activate(self) -> None:
        """The future set becomes the active set, every object of it: block and TOU rates too."""
        self.active = list(self.future)
        stored = self.stored
        if stored is not None:
            self.active_stored = {k: p for k, p in stored.items() if k in FUTURE_STORED_IDS}
        else:
            self.active_stored = None
        self.pending = False

    def _topup(self, units: int, unix_seconds: float) -> None:
        """A credited top-up: event 48, the transaction count and the last transaction."""
        self._event(EVENT_TOPUP, unix_seconds)
        self.topups = (self.topups + 1) & 0xFFFF
        self.topup_last = (self.events[0][0], units)

    def _event(self, event_id: int, unix_seconds: float) -> None:
        count = (self.event_sets.get(event_id, 0) + 1) % 256
        self.event_sets[event_id] = count
        stamp = int(unix_seconds) - EMOP_EPOCH_UNIX
        if self.events and stamp < self.events[0][0]:
            stamp = self.events[0][0]
        self.events.appendleft((stamp, event_id, count))

    # ------------------------------------------------------------ values

    def element_a(self) -> v.ElementRegisters:
        return v.ElementRegisters(
            self.import_a, self.export_a, self.import_a // 10, self.export_a // 20
        )

    def element_b(self) -> v.ElementRegisters:
        if not self.twin:
            return v.ElementRegisters(0, 0, 0, 0)
        return v.ElementRegisters(self.import_b, 0, self.import_b // 12, 0)

    def ground_truth(self, t: float) -> GroundTruth:
        """The values a correct client reads at model time t."""
        self.sync(t)
        spec = self.spec
        return GroundTruth(
            sim_time=datetime.fromtimestamp(t, UTC),
            serial=spec.serial,
            hardware=spec.hardware,
            firmware=spec.firmware,
            address=spec.address,
            clock_time_diff_seconds=self.drift_seconds(t),
            csq=self.csq,
            csq_operator=self.operator,
            voltage=Decimal(self.voltage) * v.VOLTAGE_SCALE,
            element_a=self.element_a(),
            element_b=self.element_b(),
            prepay_balance=money(self.balance),
            prepay_enabled=self.prepay_enabled,
            dst_enabled=self.dst_enabled,
            tariffs_active=_tariff(self.tariff_at(t)),
            tariffs_future=_tariff(self.future, activation_from_emop_seconds(self.activation)),
        )

    def snapshot(self) -> tuple:  # type: ignore[type-arg]
        """Every piece of state, for comparing two models."""
        return (
            self.k,
            self.balance,
            self.import_a,
            self.import_b,
            self.export_a,
            self.voltage,
            self.csq,
            self.csq_base,
            tuple(self.active),
            tuple(self.future),
            self.pending,
            self.activation,
            tuple(self.events),
            self.log.tobytes(),
            self.log_first,
            self.topups,
            self.topup_last,
            tuple(sorted((self.stored or {}).items())),
            tuple(sorted((self.active_stored or {}).items())),
        )

    def last_step_wh(self) -> tuple[int, int]:
        """Energy of the last half hour on elements A and B (Wh), from the two newest records."""
        log = self.log
        if len(log) < 2 * FIELDS_PER_RECORD:
            return 0, 0
        return log[-4] - log[-8], log[-3] - log[-7]

    def active_stored_at(self, t: float) -> dict[int, bytes] | None:
        """The active set's stored objects as the meter shows them at t (see tariff_at)."""
        return self.stored if self._due(t) else self.active_stored

    # ------------------------------------------------------------ reads and writes

    def read(self, object_id: int, t: float, base: float) -> bytes:
        """The value of a default-format read, or Refused(code)."""
        reader = READERS.get(object_id)
        if reader is None:
            known = object_id in SERVED_IDS  # e.g. the write-only token object
            raise Refused(AckNak.ACCESS_DENIED if known else AckNak.OBJECT_NOT_RECOGNISED)
        return reader(self, t, base)

    def write(self, object_id: int, payload: bytes, t: float, base: float) -> None:
        """Apply a default-format write, or raise Refused(code)."""
        writer = WRITERS.get(object_id)
        if writer is None:
            code = AckNak.ACCESS_DENIED if object_id in SERVED_IDS else AckNak.OBJECT_NOT_RECOGNISED
            raise Refused(code)
        size, apply = writer
        if size is not None and len(payload) != size:
            raise Refused(AckNak.LENGTH_INCORRECT)
        apply(self, payload, t, base)

    def profile_block(self, log: int, start_emop: int) -> bytes:
        """The 80-byte block answering a profile-log request for records at/after start_emop.

        Records before the first kept one are not there; if nothing lies at or after the time,
        the block is all zeros (the next available records do not exist yet)."""
        first = -((self.h0 - (start_emop + EMOP_EPOCH_UNIX)) // STEP_SECONDS)  # ceil
        first = max(first, self.log_first)
        if log == 1:
            count, layout = 5, _LOG1
        elif self.twin:
            count, layout = 2, _LOG2_TWIN
        else:
            count, layout = 3, _LOG2
        block = bytearray()
        data = self.log
        stamp0 = self.h0 - EMOP_EPOCH_UNIX
        for j in range(first, min(first + count, self.k + 1)):
            at = (j - self.log_first) * FIELDS_PER_RECORD
            import_a, import_b, export_a, volts = data[at : at + FIELDS_PER_RECORD]
            stamp = stamp0 + j * STEP_SECONDS
            status = ProfileStatus.RESET if j == 0 else ProfileStatus.VALID_DATA
            if log == 1:
                block += layout.pack(stamp, status, import_a, import_b)
            elif self.twin:
                block += layout.pack(
                    stamp, status, export_a, import_a // 10, export_a // 20, volts,
                    0, import_b // 12, 0,
                )  # fmt: skip
            else:
                block += layout.pack(stamp, status, export_a, import_a // 10, export_a // 20, volts)
        return bytes(block.ljust(PROFILE_BLOCK, b"\x00"))

    def event_page(self, page: int) -> bytes:
        """Ten entries, newest first, zero padded: page 0 is the newest ten."""
        events = self.events
        begin = page * EVENT_PAGE_ENTRIES
        out = bytearray()
        for index in range(begin, min(begin + EVENT_PAGE_ENTRIES, len(events))):
            out += _EVENT.pack(*events[index])
        return bytes(out.ljust(EVENT_PAGE_ENTRIES * _EVENT.size, b"\x00"))


# ---------------------------------------------------------------- object table
# Every object a single-phase meter serves has a reader (if readable) and a writer (if
# writable), looked up by id: a request costs the same however large the catalogue is.

Reader = Callable[["MeterModel", float, float], bytes]
Writer = Callable[["MeterModel", bytes, float, float], None]


def _time_record(seconds: int) -> bytes:
    tm = time.gmtime(seconds)
    return bytes(
        (
            tm.tm_year - 2000,
            tm.tm_mon,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            (tm.tm_wday + 1) % 7,
        )
    )


def _u16(value: float) -> bytes:
    return min(max(int(value), 0), 0xFFFF).to_bytes(2, "little")


def _u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def _constant(payload: bytes) -> Reader:
    return lambda m, t, base: payload


def _tariff_reader(field: int) -> Reader:
    return lambda m, t, base: _u32(m.tariff_at(t)[field])


def _future_reader(field: int) -> Reader:
    return lambda m, t, base: _u32(m.future[field])


def _stored_reader(object_id: int, default: bytes) -> Reader:
    """A stored object (future set, settings): what was last written, else its default."""
    return lambda m, t, base: (m.stored or _NOTHING).get(object_id, default)


def _active_stored_reader(source_id: int, default: bytes) -> Reader:
    """An active-set object activation copies from the future-set object `source_id`."""
    return lambda m, t, base: (m.active_stored_at(t) or _NOTHING).get(source_id, default)


_NOTHING: dict[int, bytes] = {}

# ------------------------------------------ measurements, from the last half hour's energy
# A half hour's Wh x 2 is its mean power in W. Reactive power grows the reactive registers at
# the rate they grow (element A: 1/10 of active, element B: 1/12).


def _powers(m: MeterModel) -> tuple[int, int]:
    wh_a, wh_b = m.last_step_wh()
    return 2 * wh_a, 2 * wh_b


def _reactive(m: MeterModel) -> int:
    watts_a, watts_b = _powers(m)
    return watts_a // 10 + watts_b // 12


def _average_voltage(m: MeterModel) -> int:
    log = m.log
    if len(log) < 2 * FIELDS_PER_RECORD:
        return m.voltage
    return (log[-1] + log[-5]) // 2


def _current_tenths(m: MeterModel, voltage_tenths: int) -> int:
    apparent = math.hypot(sum(_powers(m)), _reactive(m))  # VA
    return round(100 * apparent / voltage_tenths)  # I = S / V, in 0.1 A with V in 0.1 V


def _power_factor(m: MeterModel) -> int:
    active = sum(_powers(m))
    apparent = math.hypot(active, _reactive(m))
    return round(100 * active / apparent) if apparent else 100


def _transaction_details(m: MeterModel) -> bytes:
    stamp, units = m.topup_last
    return bytes(8) + _u32(stamp) + units.to_bytes(4, "little", signed=True)


# Which tariff value of a set each of these objects shows (tariffs.ACTIVE_TARIFF_OBJECTS order).
_ACTIVE_FIELDS = {
    o.ACTIVE_STANDING_CHARGE: SC,
    o.ACTIVE_PRICE: RATE_A,
    o.ACTIVE_BLOCK_8_RATE_1: RATE_A,
    o.ACTIVE_ELEMENT_B_PRICE: RATE_B,
    o.ACTIVE_ELEMENT_B_TOU_RATE_1: RATE_B,
    o.ACTIVE_ECREDIT_AVAILABILITY: AVAIL,
    o.ACTIVE_DEBT_RECOVERY_RATE: DEBT,
    o.ACTIVE_EMERGENCY_CREDIT: EC,
}
_FUTURE_FIELDS = {o.ACTIVATION_SOURCES[obj]: field for obj, field in _ACTIVE_FIELDS.items()}
#: Future-set objects held in MeterModel.stored; activation copies them to active_stored.
FUTURE_STORED = tuple(
    source
    for source in dict.fromkeys(o.ACTIVATION_SOURCES.values())
    if source not in _FUTURE_FIELDS
)
FUTURE_STORED_IDS = frozenset(source.object_id for source in FUTURE_STORED)
#: Settings a head-end may write, and what a meter holds before it does.
SETTING_DEFAULTS = {
    o.BACKLIGHT: b"\x00",  # normal
    o.LOAD_SWITCH: b"\x00",  # button always needed
    o.TIME_SWITCH_ELEMENT_A: bytes(80),  # all switches off
    o.TIME_SWITCH_ELEMENT_B: bytes(80),
}
# The element-A price is block 8 rate 1 and element B's TOU rate 1, so the meter's current
# indices point there; the price index is block 8 rate 1's place in the 8 x 8 table.
ACTIVE_BLOCK_INDEX = 7
ACTIVE_TOU_INDEX = 0
ACTIVE_PRICE_INDEX = o.RATES * ACTIVE_BLOCK_INDEX + ACTIVE_TOU_INDEX
ELEMENT_B_TOU_INDEX = 0
DECIMAL_PLACES = 1
NOMINAL_FREQUENCY = 500  # 0.1 Hz


READERS: dict[int, Reader] = {
    o.SERIAL.object_id: lambda m, t, base: v.encode_ascii(m.spec.serial, 16),
    o.HARDWARE.object_id: lambda m, t, base: v.encode_hardware(m.spec.hardware),
    o.FIRMWARE.object_id: lambda m, t, base: v.encode_firmware(m.spec.firmware),
    o.CLOCK.object_id: lambda m, t, base: _time_record(m.clock_seconds(t, base)),
    o.DST_FLAG.object_id: lambda m, t, base: b"\x01" if m.dst_enabled else b"\x00",
    o.CSQ.object_id: lambda m, t, base: bytes(((m.operator << 5) | m.csq,)),
    o.VOLTAGE.object_id: lambda m, t, base: m.voltage.to_bytes(2, "little"),
    o.AVERAGE_VOLTAGE.object_id: lambda m, t, base: _u16(_average_voltage(m)),
    o.CURRENT.object_id: lambda m, t, base: _u16(_current_tenths(m, m.voltage)),
    o.AVERAGE_CURRENT.object_id: lambda m, t, base: _u16(_current_tenths(m, _average_voltage(m))),
    o.ACTIVE_POWER.object_id: lambda m, t, base: _u16(sum(_powers(m))),
    o.ELEMENT_A_ACTIVE_POWER.object_id: lambda m, t, base: _u16(_powers(m)[0]),
    o.ELEMENT_B_ACTIVE_POWER.object_id: lambda m, t, base: _u16(_powers(m)[1]),
    o.REACTIVE_POWER.object_id: lambda m, t, base: _u16(_reactive(m)),
    o.POWER_FACTOR.object_id: lambda m, t, base: _u16(_power_factor(m)),
    # The grid wanders by a tenth of a hertz either way from one half hour to the next.
    o.FREQUENCY.object_id: lambda m, t, base: _u16(NOMINAL_FREQUENCY - 1 + m.voltage % 3),
    o.AVERAGE_FREQUENCY.object_id: _constant(_u16(NOMINAL_FREQUENCY)),
    o.ELEMENT_A.object_id: lambda m, t, base: _REGISTERS.pack(
        m.import_a, m.export_a, m.import_a // 10, m.export_a // 20
    ),
    o.ELEMENT_B.object_id: lambda m, t, base: (
        _REGISTERS.pack(m.import_b, 0, m.import_b // 12, 0) if m.twin else bytes(16)
    ),
    o.TOTAL_ACTIVE_IMPORT.object_id: lambda m, t, base: _u32(m.import_a + m.import_b),
    o.TOTAL_ACTIVE_EXPORT.object_id: lambda m, t, base: _u32(m.export_a),
    o.PREPAY_BALANCE.object_id: lambda m, t, base: m.balance.to_bytes(4, "little", signed=True),
    o.PREPAY_ENABLED.object_id: lambda m, t, base: b"\x01" if m.prepay_enabled else b"\x00",
    # Neither exemption is modelled: debt recovery and standing charges always apply.
    o.PREPAY_NO_DEBT_RECOVERY_IN_EMERGENCY.object_id: _constant(b"\x00"),
    o.PREPAY_NO_STANDING_CHARGE_IN_POWER_FAIL.object_id: _constant(b"\x00"),
    o.TRANSACTION_COUNT.object_id: lambda m, t, base: m.topups.to_bytes(2, "little"),
    o.TRANSACTION_DETAILS.object_id: lambda m, t, base: _transaction_details(m),
    **{obj.object_id: _tariff_reader(field) for obj, field in _ACTIVE_FIELDS.items()},
    **{
        active.object_id: _active_stored_reader(source.object_id, bytes(source.size or 0))
        for active, source in o.ACTIVATION_SOURCES.items()
        if active not in _ACTIVE_FIELDS
    },
    o.ACTIVE_BLOCK_RATE.object_id: _constant(bytes((ACTIVE_BLOCK_INDEX,))),
    o.ACTIVE_TOU_RATE.object_id: _constant(bytes((ACTIVE_TOU_INDEX,))),
    o.ACTIVE_PRICE_INDEX.object_id: _constant(bytes((ACTIVE_PRICE_INDEX,))),
    o.ACTIVE_ELEMENT_B_TOU_RATE.object_id: _constant(bytes((ELEMENT_B_TOU_INDEX,))),
    o.ACTIVE_ELEMENT_B_PRICE_INDEX.object_id: _constant(bytes((ELEMENT_B_TOU_INDEX,))),
    **{obj.object_id: _future_reader(field) for obj, field in _FUTURE_FIELDS.items()},
    o.FUTURE_ACTIVATION.object_id: lambda m, t, base: _u32(m.activation),
    **{obj.object_id: _stored_reader(obj.object_id, bytes(obj.size or 0)) for obj in FUTURE_STORED},
    **{
        obj.object_id: _stored_reader(obj.object_id, value)
        for obj, value in SETTING_DEFAULTS.items()
    },
    o.DECIMAL_PLACES.object_id: _constant(bytes((DECIMAL_PLACES,))),
    **{object_id: _constant(value) for object_id, value in o.UNIDENTIFIED_VALUES.items()},
}


def _flag(payload: bytes) -> bool:
    if payload[0] > 1:
        raise Refused(AckNak.FORMAT_ERROR)
    return payload[0] == 1


def _write_clock(m: MeterModel, payload: bytes, t: float, base: float) -> None:
    try:
        moment = v.decode_time_record(payload)
    except DecodeError:
        raise Refused(AckNak.FORMAT_ERROR) from None
    m.set_clock(t, base, moment.timestamp())


def _write_dst(m: MeterModel, payload: bytes, t: float, base: float) -> None:
    m.dst_enabled = _flag(payload)
    m._update_threshold()


def _write_prepay(m: MeterModel, payload: bytes, t: float, base: float) -> None:
    m.prepay_enabled = _flag(payload)


def _write_token(m: MeterModel, payload: bytes, t: float, base: float) -> None:
    """Credit the token's first five digits in pence. Like a prepayment meter, it remembers
    the tokens it accepted and refuses one it has seen (NAK 6, access denied)."""
    token = payload.decode("ascii", "replace")
    if not token.isdigit():
        raise Refused(AckNak.FORMAT_ERROR)
    if m.tokens is None:
        m.tokens = set()
    if token in m.tokens:
        raise Refused(AckNak.ACCESS_DENIED)
    m.tokens.add(token)
    credit = token_credit_units(token)
    m.balance += credit
    m._topup(credit, m.clock_seconds(t, base))


def token_credit_units(token: str) -> int:
    """The simulator's token rule: the first five digits are pence (money units: x 1000)."""
    return int(token[:TOKEN_AMOUNT_DIGITS]) * PENCE


def _future_money(field: int) -> Writer:
    def apply(m: MeterModel, payload: bytes, t: float, base: float) -> None:
        m.future[field] = int.from_bytes(payload, "little")

    return apply


def _write_activation(m: MeterModel, payload: bytes, t: float, base: float) -> None:
    m.activation = int.from_bytes(payload, "little")
    m.pending = True
    m._update_threshold()


def _store(object_id: int) -> Writer:
    def apply(m: MeterModel, payload: bytes, t: float, base: float) -> None:
        if m.stored is None:
            m.stored = {}
        m.stored[object_id] = bytes(payload)

    return apply


_WRITE_ACTIONS: dict[o.EmopObject, Writer] = {
    o.CLOCK: _write_clock,
    o.DST_FLAG: _write_dst,
    o.PREPAY_ENABLED: _write_prepay,
    o.PREPAY_TOKEN: _write_token,
    **{obj: _future_money(field) for obj, field in _FUTURE_FIELDS.items()},
    o.FUTURE_ACTIVATION: _write_activation,
    **{obj: _store(obj.object_id) for obj in (*FUTURE_STORED, *SETTING_DEFAULTS)},
}
#: object id -> (payload size, apply)
WRITERS: dict[int, tuple[int | None, Writer]] = {
    obj.object_id: (obj.size, apply) for obj, apply in _WRITE_ACTIONS.items()
}
#: Every id a single-phase meter knows: reads and writes of any other id are NAK 5.
SERVED_IDS = frozenset(obj.object_id for obj in o.SINGLE_PHASE_OBJECTS)


def _check_table() -> None:
    """Every single-phase catalogue object is served as its access says, and nothing else."""
    for obj in o.SINGLE_PHASE_OBJECTS:
        if obj.readable != (obj.object_id in READERS) or obj.writable != (obj.object_id in WRITERS):
            raise RuntimeError(f"the simulator serves {obj} against its {obj.access} access")
    if not set(READERS) | set(WRITERS) <= SERVED_IDS:
        raise RuntimeError("the simulator serves objects a single-phase meter does not")


_check_table()
