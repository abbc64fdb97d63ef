"""The declared search space: knobs (typed ranges or choices) grouped into phases.

A knob is named by its key in the flat experiment configuration (``optim.lr``,
``train.batch_size``, ``model.d_model``; see ``config.py``). Each phase sweeps one group of knobs
while every other knob stays at the current best, as in the MAGNET paper's 10-phase BitNet sweep.
Proposals from any proposer are checked here, so a value outside the space never reaches training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from magnet_market.autoresearch.errors import ProposalRejectedError, SearchSpaceError

Value = bool | int | float | str
_SHOWN = 80  # characters of a refused value quoted in its reason


def show(value: Any) -> str:
    """``repr`` of a proposed value, cut short: a reply may hold a huge string or number, and the
    reason is written to the ledger, the log and the next proposer request."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's digit limit for str()
        return f"<an int of about {value.bit_length() * 0.30103:.0f} digits>"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class _Knob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RangeKnob(_Knob):
    """A number in ``[low, high]``, sampled on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check_range(self) -> _RangeKnob:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale knob needs low > 0, got {self.low}")
        return self


class FloatKnob(_RangeKnob):
    """A real value in ``[low, high]``."""

    kind: Literal["float"] = "float"

    def reject_reason(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {show(value)}"
        try:
            inside = math.isfinite(value) and self.low <= value <= self.high
        except OverflowError:  # an integer too big for a float
            inside = False
        return None if inside else f"{show(value)} is outside [{self.low}, {self.high}]"


class IntKnob(_RangeKnob):
    """An integer in ``[low, high]``."""

    kind: Literal["int"] = "int"
    low: int
    high: int

    def reject_reason(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {show(value)}"
        if not self.low <= value <= self.high:
            return f"{show(value)} is outside [{self.low}, {self.high}]"
        return None


class ChoiceKnob(_Knob):
    """One of a list of values."""

    kind: Literal["choice"] = "choice"
    choices: list[Value] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ChoiceKnob:
        if len({json.dumps(c) for c in self.choices}) != len(self.choices):
            raise ValueError(f"choices must be distinct, got {self.choices}")
        return self

    def reject_reason(self, value: Any) -> str | None:
        # type-strict: True is not 1 and 64.0 is not 64, as JSON round trips must not change a run
        if not any(type(value) is type(c) and value == c for c in self.choices):
            return f"{show(value)} is not one of {self.choices}"
        return None


Knob = Annotated[FloatKnob | IntKnob | ChoiceKnob, Field(discriminator="kind")]


class Phase(BaseModel):
    """A named group of knobs swept together, in ``trials`` experiments (None: the run's
    trials per phase)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    knobs: list[str] = Field(min_length=1)
    trials: int | None = Field(None, ge=1)


class SearchSpace(BaseModel):
    """Knobs by configuration key, and the phases that sweep them in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knobs: dict[str, Knob] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phase names must be unique; repeated: {dupes}")
        for phase in self.phases:
            unknown = [k for k in phase.knobs if k not in self.knobs]
            if unknown:
                raise ValueError(
                    f"phase {phase.name!r} sweeps undeclared knobs {unknown}; "
                    f"declared: {sorted(self.knobs)}"
                )
        return self

    @classmethod
    def parse(cls, data: Any) -> SearchSpace:
        """Validate a decoded JSON object; errors become :class:`SearchSpaceError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SearchSpaceError(f"invalid search space: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        """Read a JSON search space file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SearchSpaceError(f"cannot read search space {path}: {exc}") from None
        return cls.parse(data)

    def without(self, prefix: str) -> SearchSpace:
        """This space minus the knobs starting with ``prefix`` (phases left empty are dropped)."""
        knobs = {k: v for k, v in self.knobs.items() if not k.startswith(prefix)}
        phases = [
            {**p.model_dump(exclude_none=True), "knobs": [k for k in p.knobs if k in knobs]}
            for p in self.phases
        ]
        return SearchSpace.parse(
            {
                "knobs": {k: v.model_dump() for k, v in knobs.items()},
                "phases": [p for p in phases if p["knobs"]],
            }
        )

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise SearchSpaceError(f"no phase {name!r}; phases: {[p.name for p in self.phases]}")

    def check_fits(self, config: dict[str, Value]) -> None:
        """Every knob names a key of ``config`` and holds its current value (the start point)."""
        for name, knob in self.knobs.items():
            if name not in config:
                raise SearchSpaceError(
                    f"knob {name!r} is not a configuration key; keys: {sorted(config)}"
                )
            reason = knob.reject_reason(config[name])
            if reason:
                raise SearchSpaceError(
                    f"the starting configuration is outside knob {name!r}: {reason}; "
                    "widen the knob so the sweep can return to the default"
                )

    def check_changes(self, changes: Any, phase: Phase) -> None:
        """Raise :class:`ProposalRejectedError` unless ``changes`` sets only ``phase``'s knobs."""
        if not isinstance(changes, dict) or not changes:
            raise ProposalRejectedError(
                f"changes must be a non-empty JSON object of knob: value, got {show(changes)}"
            )
        for name, value in changes.items():
            if name not in self.knobs:
                raise ProposalRejectedError(
                    f"{show(name)} is not a declared knob; declared: {sorted(self.knobs)}"
                )
            if name not in phase.knobs:
                raise ProposalRejectedError(
                    f"phase {phase.name!r} sweeps only {phase.knobs}, not {show(name)}"
                )
            reason = self.knobs[name].reject_reason(value)
            if reason:
                raise ProposalRejectedError(f"{name}: {reason}")
