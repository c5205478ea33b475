"""One exception hierarchy for everything that can go wrong talking EMOP.

Every error can carry the meter (serial or address), the object being read or written, and the
bytes received, and says them all in its message, so a log line is enough to act on.
"""

from __future__ import annotations

from enum import IntEnum


class AckNak(IntEnum):
    """The ACK/NAK code in bits 3-7 of a frame's control byte."""

    OK = 0
    CRC_ERROR = 1
    FORMAT_ERROR = 2
    LENGTH_INCORRECT = 3
    PAYLOAD_TOO_LARGE = 4
    OBJECT_NOT_RECOGNISED = 5
    ACCESS_DENIED = 6
    ADDRESS_INCORRECT = 7


class EmopError(Exception):
    """Base of every EMOP error."""

    #: Whether trying the same request again may succeed.
    retryable = True
    #: Whether the request's bytes may have reached the meter. Only a write that must not be
    #: repeated (a top-up token) tracks it; everything else assumes the worst.
    request_sent = True

    def __init__(
        self,
        message: str,
        *,
        meter: str | None = None,
        object_name: str | None = None,
        received: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.meter = meter
        self.object_name = object_name
        self.received = received

    def with_context(
        self, *, meter: str | None = None, object_name: str | None = None
    ) -> EmopError:
        """Fill in the meter and object where the raiser could not know them."""
        self.meter = self.meter or meter
        self.object_name = self.object_name or object_name
        return self

    @property
    def kind(self) -> str:
        """A short stable name for grouping errors (e.g. in sync metadata)."""
        return type(self).__name__

    def __str__(self) -> str:
        parts = []
        if self.meter:
            parts.append(f"meter {self.meter}")
        if self.object_name:
            parts.append(f"object {self.object_name}")
        prefix = ", ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.received is not None:
            shown = self.received[:300].hex()
            more = "..." if len(self.received) > 300 else ""
            text += f" (received {len(self.received)} bytes: {shown or '<none>'}{more})"
        return text


class FrameError(EmopError):
    """The bytes received are not a well-formed frame (delimiter, length, truncation)."""


class CrcError(FrameError):
    """The frame's CRC does not match its contents."""


class UnexpectedResponseError(FrameError):
    """A valid frame that does not answer the request (address, sequence, object or format)."""


class DecodeError(EmopError):
    """A well-formed response whose value cannot be decoded (wrong size, out-of-range field)."""

    retryable = False


class EncodeError(EmopError):
    """A value that cannot be written to a meter (out of range, too many decimal places)."""

    retryable = False


class NakError(EmopError):
    """The meter answered with a NAK code."""

    def __init__(self, code: int, **context: object) -> None:
        try:
            name = AckNak(code).name
        except ValueError:
            name = "UNKNOWN"
        super().__init__(f"meter answered NAK code {code} ({name})", **context)  # type: ignore[arg-type]
        self.code = code
        self.code_name = name
        # A NAK for a frame problem may clear on a resend; an unknown object or a refused
        # access will not.
        self.retryable = code in (AckNak.CRC_ERROR, AckNak.FORMAT_ERROR, AckNak.LENGTH_INCORRECT)


class MeterTimeoutError(EmopError):
    """No (complete) answer within the timeout."""


class MeterConnectionError(EmopError):
    """The TCP connection failed: refused, reset or closed before a whole frame arrived."""


class ConnectionRefusedByMeter(MeterConnectionError):
    """Nothing accepted the TCP connection (meter offline or modem down)."""


class MeterUnreachableError(EmopError):
    """Not tried: an earlier failure already ended the read of this meter (no connection, a
    meter given up for its NAKs, or a meter whose identity is wrong or unconfirmed)."""

    retryable = False


class TooManyNaksError(EmopError):
    """The meter answered too many requests in a row with a NAK about the frame itself: it is
    given up for this conversation, since every further request would cost retries for nothing."""

    retryable = False

    def __init__(self, count: int, code: int, **context: object) -> None:
        try:
            name = AckNak(code).name
        except ValueError:
            name = "UNKNOWN"
        super().__init__(
            f"given up after {count} consecutive NAKs, last code {code} ({name})",
            **context,  # type: ignore[arg-type]
        )
        self.count = count
        self.code = code
        self.code_name = name


class IdentityMismatchError(EmopError):
    """The meter at a registered address reports another serial than the registry's: nothing
    it says is used and nothing is written to it.

    Raised before the caller's own request is sent (unless that request was the serial read
    itself), hence `request_sent` False: a top-up token never left this machine."""

    retryable = False
    request_sent = False

    def __init__(self, registered: str, reported: str, address: str, **context: object) -> None:
        super().__init__(
            f"identity mismatch at {address}: registered serial {registered!r}, "
            f"the meter reports {reported!r}",
            **context,  # type: ignore[arg-type]
        )
        self.registered = registered
        self.reported = reported
        self.address = address


class IdentityUnconfirmedError(EmopError):
    """The serial read that must precede a request failed, so the request was not sent.

    It wraps the serial read's error (`cause`), keeping its retryability; `request_sent` is
    False because the caller's request itself never left this machine."""

    request_sent = False

    def __init__(self, cause: EmopError, **context: object) -> None:
        super().__init__(
            "not sent: the meter's identity could not be confirmed, reading "
            f"{cause.object_name or 'its serial'} failed with {cause.kind}: {cause.message}",
            received=cause.received,
            **context,  # type: ignore[arg-type]
        )
        self.cause = cause
        self.retryable = cause.retryable
