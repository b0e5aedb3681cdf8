"""The verb registry's own rules: each place the core offers a button has exactly one verb's
button, and the config is checked against the facts the registry hands it."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.alerts import AlertButtons
from bot.core.hitl import HitlButtons
from bot.core.verbs import Button, Offer, Registry, Verb
from commands import REGISTRY, ack, clear, logs, mark, respond


def test_every_place_the_core_offers_a_button_is_a_verbs_button() -> None:
    assert AlertButtons.offered_by(REGISTRY) == AlertButtons(
        logs=logs.LOGS, clear=clear.BUTTON, mark=mark.BUTTON, ack=ack.BUTTON
    )
    assert HitlButtons.offered_by(REGISTRY) == respond.BUTTONS
    for offer in Offer:
        verb, _ = REGISTRY.button(REGISTRY.offered(offer)) or (None, None)
        assert verb is not None, offer


def _registry(*verbs: Verb) -> Registry:
    return dataclasses.replace(REGISTRY, verbs=verbs)


def test_a_place_no_button_is_offered_in_is_named() -> None:
    without = _registry(*(v for v in REGISTRY if v.name != "mark"))
    with pytest.raises(LookupError, match="mark a run successful"):
        without.offered(Offer.MARK)


def test_two_buttons_offered_in_one_place_are_refused() -> None:
    twice = dataclasses.replace(
        REGISTRY["status"], buttons={"status_mark": Button(offered=Offer.MARK)}
    )
    with pytest.raises(ValueError, match="offered in the same place"):
        _registry(*(v for v in REGISTRY if v.name != "status"), twice)


def test_the_config_is_checked_against_the_registrys_facts() -> None:
    facts = REGISTRY.facts()
    assert facts.open == REGISTRY.open and facts.granted == REGISTRY.granted
    assert facts.builtin_roles == REGISTRY.builtin_roles()
    assert facts.words == {v.name for v in REGISTRY} and "trigger" in facts.words
    assert facts.open.isdisjoint(facts.granted)


def test_two_verbs_of_one_name_or_one_action_id_are_refused() -> None:
    with pytest.raises(ValueError, match="share a name"):
        _registry(*REGISTRY, REGISTRY["pause"])
    copy = dataclasses.replace(
        REGISTRY["status"], name="status2", buttons=REGISTRY["pause"].buttons
    )
    with pytest.raises(ValueError, match="button's action id"):
        _registry(*REGISTRY, copy)


def test_the_registry_answers_what_the_rest_asks_of_it() -> None:
    assert "pause" in REGISTRY and "nope" not in REGISTRY
    assert REGISTRY.writes == {v.name for v in REGISTRY if v.writes} >= {"trigger", "pause"}
    assert "list" not in REGISTRY.writes
    roles = REGISTRY.builtin_roles()
    assert set(roles) == {"viewer", "operator"}
    # Each role has its own verbs and those of the roles before it.
    assert {"list", "status"} <= roles["viewer"] < roles["operator"]
    assert "trigger" in roles["operator"] and "trigger" not in roles["viewer"]
    assert set(REGISTRY.action_ids()) == {a for v in REGISTRY for a in v.buttons}
    assert respond.FORM in REGISTRY.action_ids()
    assert {verb.name for verb, _ in REGISTRY.forms()} == {"trigger", "respond"}
