"""The allow-list: deny by default, numeric ids from TOML, admins always in, the operator."""

from __future__ import annotations

import pytest

from nanobot_core import Access, AccessPolicy


def test_nobody_is_served_by_default() -> None:
    policy = AccessPolicy()
    assert policy.check("111") is Access.DENIED
    assert policy.check("") is Access.DENIED


def test_listed_ids_are_users_and_others_are_denied() -> None:
    policy = AccessPolicy(allow_from=["111", "222"])
    assert policy.check("111") is Access.USER
    assert policy.check("222") is Access.USER
    assert policy.check("333") is Access.DENIED
    assert policy.check("11") is Access.DENIED  # whole ids, not prefixes


def test_numeric_ids_from_toml_match_the_string_ids_channels_give() -> None:
    policy = AccessPolicy(allow_from=[111111111], admins=[42])
    assert policy.check("111111111") is Access.USER
    assert policy.check("42") is Access.ADMIN
    assert policy.allow_from == {"111111111"} and policy.admins == {"42"}


def test_admins_are_allowed_without_being_listed() -> None:
    policy = AccessPolicy(allow_from=["111"], admins=["42"])
    assert policy.check("42") is Access.ADMIN
    assert AccessPolicy(admins=["42"]).check("42") is Access.ADMIN
    assert AccessPolicy(admins=["42"]).check("111") is Access.DENIED


def test_an_admin_who_is_also_listed_stays_an_admin() -> None:
    policy = AccessPolicy(allow_from=["42"], admins=["42"], everyone=True)
    assert policy.check("42") is Access.ADMIN


@pytest.mark.parametrize("user_id", ["", "1", "anyone", "operator"])
def test_the_operator_channel_serves_anyone_as_a_plain_user(user_id: str) -> None:
    # a user, not an admin: rate limits still apply on the console
    assert AccessPolicy.operator().check(user_id) is Access.USER


def test_everyone_keeps_admins_apart() -> None:
    policy = AccessPolicy(admins=["42"], everyone=True)
    assert policy.check("7") is Access.USER
    assert policy.check("42") is Access.ADMIN


def test_two_policies_are_independent() -> None:
    # the default sets are not shared between policies
    first, second = AccessPolicy(), AccessPolicy(allow_from=["1"])
    assert first.check("1") is Access.DENIED
    assert second.check("1") is Access.USER
