"""The task spec a sponsor writes (TOML) and pins to IPFS: what to train, how, and for what.

Every field is validated with a message that names it, so a bad spec fails before anything is
pinned or any ether moves. The pinned form is canonical JSON (sorted keys), so the same spec
always gets the same CID. Example (``docs/task-spec.md`` lists every field)::

    name = "tinylm-stdlib"
    kind = "tinylm"
    rounds = 2
    inner_steps = 50

    [model]
    d_model = 64
    n_layers = 2

    [market]
    bounty = "3ether"
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from magnet_market.autoresearch.config import Config, flatten
from magnet_market.autoresearch.errors import SearchSpaceError
from magnet_market.autoresearch.recipes import SPACES
from magnet_market.autoresearch.space import SearchSpace
from magnet_market.bitnet.checkpoint import Checkpoint, from_model, load_into
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ModelConfig, build_model, config_from_dict
from magnet_market.bitnet.train import OptimConfig, optim_with
from magnet_market.datasets import DatasetManifest
from magnet_market.errors import MagnetError
from magnet_market.tasks.series_dataset import WINDOW as SERIES_WINDOW
from magnet_market.units import parse_wei

#: The metric each task kind is scored on, and whether lower is better.
METRICS: dict[str, tuple[str, bool]] = {
    "tinylm": ("val_loss", True),
    "digits": ("balanced_accuracy", False),
    "tabular": ("balanced_accuracy", False),
    "text": ("val_loss", True),
    "series": ("hit_rate", False),
}
_MODEL_KIND = {
    "tinylm": "transformer",
    "digits": "classifier",
    "tabular": "classifier",
    "text": "transformer",
    "series": "classifier",
}
CreditRule = Literal["improvement", "leave_one_out", "improvement_else_leave_one_out"]
#: Fields added after specs were first pinned, left out of the pinned form at their default: a
#: spec that does not set them keeps its CID and stays readable by clients that predate them.
_ADDED_LATER: dict[tuple[str, ...], Any] = {
    ("optim",): {},
    ("verification", "credit"): "improvement",
}
#: Kinds whose data is a sponsor's dataset, named by ``dataset`` (a CID); the others are built in.
TaskKind = Literal["tinylm", "digits", "tabular", "text", "series"]
#: Every kind of task, as a spec (and ``magnet task list --kind``) spells it.
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)
DATASET_KINDS = frozenset({"tabular", "text", "series"})


class SpecError(MagnetError, ValueError):
    """A task spec is invalid; the message lists every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timing(_Strict):
    """Phase lengths of each round, in seconds."""

    submit: int = Field(default=3600, ge=1, le=365 * 86400)
    reveal: int = Field(default=1800, ge=1, le=365 * 86400)
    merge: int = Field(default=3600, ge=1, le=365 * 86400)
    challenge: int = Field(default=3600, ge=0, le=365 * 86400)
    # after a round's reveal deadline: the sponsor's window to reveal the round's holdout key
    # (a task on a dataset with a sealed holdout only)
    holdout: int = Field(default=1800, ge=1, le=365 * 86400)


class Market(_Strict):
    """What the chain holds: bounty, bonds, slots, timing, slash rates (basis points)."""

    bounty: int = Field(..., gt=0)
    claim_bond: int = Field(default=10**16, ge=0)
    max_contributors: int = Field(default=8, ge=1, le=10_000)
    timing: Timing = Timing()
    timeout_bps: int = Field(default=1_000, ge=0, le=10_000)
    dishonest_claim_bps: int = Field(default=5_000, ge=0, le=10_000)
    bad_verification_bps: int = Field(default=3_000, ge=0, le=10_000)
    # per round, held beside the bounty when the dataset's holdout is sealed: a round whose key
    # the sponsor does not reveal in time is judged on the public split and this joins its budget
    holdout_bond: int = Field(default=10**16, gt=0)
    # of each round's reward, for the contributors whose earlier ideas (published recipe
    # changes) the round's accepted work adopted, by the improvement attributed to them
    idea_share_bps: int = Field(default=1_000, ge=0, le=5_000)

    @field_validator("bounty", "claim_bond", "holdout_bond", mode="before")
    @classmethod
    def _wei(cls, value: Any) -> int:
        return parse_wei(value)


class Verification(_Strict):
    """How the coordinator judges a submission (tolerances in the task's metric's units) and
    scores the accepted ones for credit (``diloco.credit``)."""

    # claim better than measured by more: dishonest
    claim_tolerance: float = Field(default=0.02, ge=0, le=1)
    # worse than the parent by more: rejected
    regression_tolerance: float = Field(default=0.05, ge=0, le=1)
    # each accepted contribution's own gain over the parent; its marginal value to the merge
    # (K more merges); or the first, unless only the merge improved: then the second
    credit: CreditRule = "improvement"


class Search(_Strict):
    """The contributor's autoresearch before each round's inner steps.

    ``trials`` experiments (after a baseline) from the round's parent, each training the
    round's ``inner_steps``: the length the kept recipe is used at, since step-counted knobs
    (warmup, the schedule) tuned at one length do not carry to another. ``budget_seconds``
    trains each experiment for that many wall-clock seconds instead: cheaper when a round is
    long, but what it keeps is tuned for another length. ``space`` is an autoresearch search
    space (empty: the task's own). ``trials = 0`` trains with the default recipe.
    """

    trials: int = Field(default=4, ge=0, le=10_000)
    budget_seconds: float | None = Field(default=None, gt=0, le=86_400)
    # the promotion ladder: candidates first train this fraction of the budget and run at the
    # full budget only when they beat the noise there (None: every candidate runs in full)
    proxy: float | None = Field(default=None, gt=0, lt=1)
    space: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(_Strict):
    """A training task. ``base_cid`` is filled in when the sponsor publishes the base checkpoint."""

    version: Literal[1] = 1
    name: str = Field(..., min_length=1, max_length=100)
    kind: TaskKind
    dataset: str | None = Field(default=None, min_length=1, max_length=200)
    seed: int = Field(default=0, ge=0)
    rounds: int = Field(..., ge=1, le=120)
    inner_steps: int = Field(..., ge=1, le=1_000_000)
    batch_size: int = Field(default=16, ge=1, le=65_536)
    model: dict[str, Any] = Field(default_factory=dict)
    # the round's training recipe: the engine's (``bitnet.train.OptimConfig``) with these fields
    # changed; every contributor starts each round from it (a search tunes from it)
    optim: dict[str, Any] = Field(default_factory=dict)
    base_cid: str | None = None
    search: Search = Search()
    verification: Verification = Verification()
    market: Market

    @field_validator("optim")
    @classmethod
    def _optim_fits_the_engine(cls, changes: dict[str, Any]) -> dict[str, Any]:
        """Checked against ``OptimConfig`` and pinned as it reads them (``lr = 1`` as 1.0), so
        one recipe has one CID."""
        recipe = dataclasses.asdict(optim_with(changes))
        return {name: recipe[name] for name in changes}

    @model_validator(mode="after")
    def _model_fits_kind(self) -> TaskSpec:
        if self.kind in DATASET_KINDS and not self.dataset:
            raise ValueError(
                f"dataset: a {self.kind} task names its data by CID "
                "(`magnet dataset pack` prints it)"
            )
        if self.kind not in DATASET_KINDS and self.dataset:
            raise ValueError(f"dataset: a {self.kind} task uses its built-in data, not a dataset")
        try:
            self.model_config_obj()
        except ValueError as e:
            raise ValueError(f"model: {e}") from None
        if self.search.trials:
            try:
                self.search_space().check_fits(self.default_recipe())
            except SearchSpaceError as e:
                raise ValueError(f"search.space: {e}") from None
        return self

    @property
    def metric(self) -> str:
        """Name of the validation metric."""
        return METRICS[self.kind][0]

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller metric is an improvement."""
        return METRICS[self.kind][1]

    def model_config_obj(self) -> ModelConfig:
        """The BitNet model config this task trains."""
        expected = _MODEL_KIND[self.kind]
        kind = self.model.get("kind", expected)
        if kind != expected:
            raise ValueError(f"model.kind must be {expected!r} for a {self.kind} task")
        return config_from_dict({**self.model, "kind": expected})

    def search_space(self) -> SearchSpace:
        """What contributors tune each round: the spec's space (or the task's) minus the
        ``model.*`` knobs, since every contribution must keep the parent's shape to merge."""
        space = SearchSpace.parse(self.search.space) if self.search.space else SPACES[self.kind]
        if all(knob.startswith("model.") for knob in space.knobs):
            raise SearchSpaceError(
                "every knob is a model.* knob, which a market task fixes (contributions keep "
                "the parent's shape to be merged); declare optim.* or train.* knobs"
            )
        return space.without("model.")

    def optim_config(self) -> OptimConfig:
        """The round's optimizer and schedule: the engine's BitNet recipe with the spec's
        ``optim`` changes."""
        return optim_with(self.optim)

    def default_recipe(self) -> Config:
        """The flat training configuration before any search: the spec's recipe."""
        return flatten(self.model_config_obj(), self.batch_size, self.optim_config())

    def canonical_json(self) -> bytes:
        """The pinned form: sorted keys, no whitespace, wei as integers, fields added later
        left out at their default."""
        data = self.model_dump(mode="json")
        for *within, name in _ADDED_LATER:
            section = functools.reduce(dict.__getitem__, within, data)
            if section[name] == _ADDED_LATER[(*within, name)]:
                del section[name]
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def fit_to_dataset(spec: TaskSpec, manifest: DatasetManifest) -> TaskSpec:
    """``spec`` with its model shaped by its dataset: a tabular classifier takes the dataset's
    features and predicts its classes, a series classifier a window of every column's changes
    and up or down (filled in when the spec leaves them out); a text model reads bytes
    whatever the text."""
    if manifest.kind != spec.kind:
        raise SpecError(
            f"dataset {spec.dataset} is a {manifest.kind} dataset; a {spec.kind} task needs a "
            f"{spec.kind} one"
        )
    if spec.kind == "text":
        return spec  # bytes in, bytes out: a text model's shape does not depend on the data
    if spec.kind == "series":
        shape = {"n_features": SERIES_WINDOW * len(manifest.features), "n_classes": 2}
    else:
        shape = {"n_features": len(manifest.features), "n_classes": len(manifest.classes)}
    clash = {k: spec.model[k] for k in shape if k in spec.model and spec.model[k] != shape[k]}
    if clash:
        raise SpecError(f"model {clash} does not fit dataset {spec.dataset}, which has {shape}")
    return parse_spec({**spec.model_dump(mode="json"), "model": {**spec.model, **shape}})


def base_checkpoint(spec: TaskSpec) -> Checkpoint:
    """Round 0's parent: the task's model, freshly initialised from the spec's seed."""
    torch.manual_seed(spec.seed)
    return from_model(build_model(spec.model_config_obj()))


def brought_base(spec: TaskSpec, given: Checkpoint) -> Checkpoint:
    """Round 0's parent from a checkpoint the sponsor brings (a model it trained before): its
    weights alone, once they are the spec's model, tensor for tensor, with finite values.

    Raises:
        SpecError: another model, or weights that are not finite.
    """
    want = spec.model_config_obj()
    if given.config != want:
        raise SpecError(f"base checkpoint: its model is {given.config}; the spec trains {want}")
    model = build_model(want)
    try:
        load_into(model, given)
    except CheckpointError as e:
        raise SpecError(f"base checkpoint: {e}") from None
    broken = [k for k, v in model.state_dict().items() if not torch.isfinite(v).all()]
    if broken:
        raise SpecError(f"base checkpoint: tensors with inf or nan values: {', '.join(broken)}")
    return from_model(model)


def _explain(e: ValidationError, within: tuple[str, ...] = ()) -> str:
    lines = []
    for err in e.errors():
        where = ".".join(str(p) for p in (*within, *err["loc"])) or "spec"
        lines.append(f"  {where}: {err['msg']}")
    return "invalid task spec:\n" + "\n".join(lines)


def parse_spec(data: dict[str, Any]) -> TaskSpec:
    """Validate a spec given as a mapping (from TOML or JSON)."""
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_explain(e)) from None


def parse_market(data: dict[str, Any]) -> Market:
    """Validate market terms alone (a spec's ``market`` section), e.g. given as options."""
    try:
        return Market.model_validate(data)
    except ValidationError as e:
        raise SpecError(_explain(e, within=("market",))) from None


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a TOML (``.toml``) or JSON spec file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"cannot read task spec {path}: {e.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise SpecError(f"{path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {e}") from None
    return parse_spec(data)


def spec_from_bytes(data: bytes) -> TaskSpec:
    """A pinned spec fetched from storage (canonical JSON)."""
    try:
        return parse_spec(json.loads(data))
    except json.JSONDecodeError as e:
        raise SpecError(f"pinned task spec is not JSON: {e}") from None
