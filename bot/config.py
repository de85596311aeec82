"""Settings, read from the environment and `.env` with pydantic-settings.

Every setting here is listed, with a one-line comment, in `.env.example`.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite://data/guanjia.sqlite3"


class SettingsError(Exception):
    """A setting has a bad value; the message names the setting and what is wrong."""


class Settings(BaseSettings):
    """All of Guanjia's settings; one instance is built by `load_settings` and passed down."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    default_language: str = "zh"
    data_dir: Path = Path("data")
    nlu_model_path: Path | None = None

    @field_validator("nlu_model_path", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        return None if value == "" else value

    demo_on_empty: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in {"zh", "en"}:
            raise ValueError("must be zh or en")
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def nlu_model_file(self) -> Path:
        """Where the trained NLU model is cached."""
        return self.nlu_model_path or self.data_dir / "nlu" / "model.pkl"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into a readable `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message} (got {error.get('input')!r})")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
