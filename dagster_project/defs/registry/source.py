"""Where the operator's files come from: the meter registry and the infrastructure files
beside it."""

from pathlib import Path
from typing import Self

from dagster import ConfigurableResource
from pydantic import Field

from dagster_project.domain.registry import DEFAULT_MAX_REMOVED_SHARE
from dagster_project.paths import DEMO_REGISTRY_CSV
from dagster_project.settings import Settings


class RegistrySource(ConfigurableResource):
    """Where the meter registry comes from (FLOWS_REGISTRY_CSV) and how much of the active fleet
    one file may take out of service (FLOWS_REGISTRY_MAX_REMOVED_SHARE)."""

    csv_path: str = Field(str(DEMO_REGISTRY_CSV), description="Registry CSV to load.")
    max_removed_share: float = Field(
        DEFAULT_MAX_REMOVED_SHARE,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of the active fleet one file may remove; a file removing more is "
            "refused and the registry in force kept. 1 allows any removal."
        ),
    )

    infrastructure_dir: str | None = Field(
        None,
        description=(
            "Directory of the infrastructure files (escos.csv, sites.csv, ...); default: the "
            "registry file's directory."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        directory = settings.infrastructure_dir
        return cls(
            csv_path=str(settings.registry_csv or DEMO_REGISTRY_CSV),
            max_removed_share=settings.registry_max_removed_share,
            infrastructure_dir=None if directory is None else str(directory),
        )

    def infrastructure_path(self) -> Path:
        if self.infrastructure_dir is not None:
            return Path(self.infrastructure_dir)
        return Path(self.csv_path).parent
