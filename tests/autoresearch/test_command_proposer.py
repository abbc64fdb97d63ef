"""The external proposer: whatever the command replies, the loop gets a proposal or a refusal
with a reason it can log, never an exception of another kind."""

from __future__ import annotations

import sys

import pytest

from magnet_market.autoresearch import ConfigurationError, ProposalRejectedError
from magnet_market.autoresearch.proposers import CommandProposer

from .test_proposers import _ctx


def _command(tmp_path, body: str, *args: str) -> str:
    """A proposer command running ``body`` (Python) after reading the request."""
    script = tmp_path / "proposer.py"
    script.write_text("import json, sys\nrequest = json.load(sys.stdin)\n" + body)
    return " ".join([sys.executable, str(script), *args])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("sys.stdout.buffer.write(b'\\xff\\xfe{}')", "proposer reply is not UTF-8"),
        ("print('{\"changes\": {\"optim.lr\": 1' + '0' * 400 + '}}')", "is outside [0.001, 0.01]"),
        (
            "print('{\"changes\": {\"optim.lr\": ' + '9' * 5000 + '}}')",
            "proposer reply is not JSON",
        ),
        ("print('[' * 100000)", "proposer reply is not JSON"),
        ("print('{\"changes\": {\"optim.lr\": \"' + 'x' * 10000 + '\"}}')", "must be a number"),
        ("sys.stdout.write(' ' * (1 << 21))", "a proposal is a few knobs"),
        (
            "print(json.dumps({'changes': {'optim.lr': request['best']['config']['optim.lr']}}))",
            "is the current best",
        ),
        ('print(\'{"changes": {"optim.lr": NaN}}\')', "nan is outside"),
    ],
    ids=[
        "not-utf8",
        "int-too-big-for-float",
        "int-too-long",
        "too-deep",
        "long-string",
        "too-long",
        "current-best",
        "nan",
    ],
)
def test_a_bad_reply_is_refused_with_a_short_reason(tmp_path, body, reason) -> None:
    with pytest.raises(ProposalRejectedError) as refused:
        CommandProposer(_command(tmp_path, body)).propose(_ctx("lr"))
    assert reason in str(refused.value)
    assert len(str(refused.value)) < 400  # it goes to the ledger, the log and the next request


def test_the_reasons_name_the_program_not_its_arguments(tmp_path) -> None:
    """Arguments may hold an API key; the ledger is shown on the dashboard."""
    slow = CommandProposer(
        _command(tmp_path, "import time; time.sleep(5)", "--key=sk-SECRET"), timeout=0.5
    )
    with pytest.raises(ProposalRejectedError) as refused:
        slow.propose(_ctx("lr"))
    assert "no reply within 0.5 s" in str(refused.value)
    assert "SECRET" not in str(refused.value)
    failing = CommandProposer(_command(tmp_path, "sys.exit('boom')", "--key=sk-SECRET"))
    with pytest.raises(ProposalRejectedError, match="exited with 1: boom") as refused:
        failing.propose(_ctx("lr"))
    assert "SECRET" not in str(refused.value)


def test_a_good_reply_is_a_proposal_with_its_description_cut_short(tmp_path) -> None:
    body = "print(json.dumps({'changes': {'optim.lr': 0.005}, 'description': 'why ' * 1000}))"
    proposal = CommandProposer(_command(tmp_path, body)).propose(_ctx("lr"))
    assert proposal.changes == {"optim.lr": 0.005}
    assert proposal.description.startswith("optim.lr=0.005 (why why")
    assert len(proposal.description) < 400


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ('python3 "agent.py', "cannot split the proposer command: No closing quotation"),
        ("", "the proposer command is empty"),
        ("TPE", "'TPE' is neither a sampler (tpe, gp, random) nor a program found on PATH"),
    ],
)
def test_a_command_that_cannot_run_is_a_configuration_error(command, reason) -> None:
    with pytest.raises(ConfigurationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        CommandProposer(command)
