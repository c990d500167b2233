"""audit_record(): what an event keeps, how it links to the one before, and what it refuses."""

import logging

import pytest
from django.contrib.auth.models import User

from audit.models import GENESIS_HASH, AppendOnlyError, AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record
from iotadmin.middleware import current_client_ip, current_request_id

pytestmark = pytest.mark.django_db


def test_event_keeps_actor_name_device_swap_and_values():
    alice = User.objects.create_user("alice", password="s3cret-Passw0rd")
    event = audit_record(
        action=AuditAction.SWAP_REQUESTED,
        actor=alice,
        device_id="dev-123",
        swap_id=42,
        before={"node_id": "old"},
        after={"node_id": "new", "timeout": 180},
        detail="replacement unit",
        request_id="req-1",
        ip="192.0.2.7",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_name) == (alice.pk, "alice")
    assert (stored.device_id, stored.swap_id, stored.action) == ("dev-123", 42, "swap_requested")
    assert stored.before == {"node_id": "old"}
    assert stored.after == {"node_id": "new", "timeout": 180}
    assert (stored.detail, stored.request_id, stored.ip) == (
        "replacement unit",
        "req-1",
        "192.0.2.7",
    )
    assert stored.at is not None


def test_request_id_and_ip_default_to_the_current_request():
    id_token = current_request_id.set("abc123")
    ip_token = current_client_ip.set("2001:db8::1")
    try:
        event = audit_record(action=AuditAction.DEVICES_SYNCED)
    finally:
        current_request_id.reset(id_token)
        current_client_ip.reset(ip_token)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.request_id, stored.ip) == ("abc123", "2001:db8::1")


def test_outside_a_request_there_is_no_request_id_or_ip():
    event = AuditEvent.objects.get(pk=audit_record(action=AuditAction.DEVICES_SYNCED).pk)
    assert (event.request_id, event.ip) == ("", None)


def test_anonymous_actor_is_recorded_as_nobody():
    from django.contrib.auth.models import AnonymousUser

    event = audit_record(action=AuditAction.PUSH_RECEIVED, actor=AnonymousUser())
    assert (event.actor_id, event.actor_name) == (None, "")


def test_events_form_a_chain_from_genesis():
    events = [audit_record(action=AuditAction.PUSH_RECEIVED, detail=str(i)) for i in range(3)]
    stored = list(AuditEvent.objects.order_by("id"))
    assert [e.pk for e in stored] == [e.pk for e in events]
    assert stored[0].prev_hash == GENESIS_HASH
    assert stored[1].prev_hash == stored[0].hash
    assert stored[2].prev_hash == stored[1].hash
    assert len({e.hash for e in stored}) == 3
    assert all(e.hash == e.compute_hash() for e in stored)
    head = AuditChainHead.objects.get()
    assert (head.last_event_id, head.last_hash, head.event_count) == (
        stored[2].pk,
        stored[2].hash,
        3,
    )


def test_hash_covers_every_recorded_field():
    event = AuditEvent.objects.get(
        pk=audit_record(
            action=AuditAction.SWAP_BOUND,
            device_id="d",
            swap_id=1,
            before={"a": 1},
            after={"b": 2},
            detail="x",
            request_id="r",
            ip="10.0.0.1",
        ).pk
    )
    original = event.compute_hash()
    for field, value in [
        ("device_id", "other"),
        ("swap_id", 2),
        ("action", AuditAction.SWAP_FAILED.value),
        ("before", {"a": 2}),
        ("after", {}),
        ("detail", "y"),
        ("request_id", "s"),
        ("ip", "10.0.0.2"),
        ("actor_name", "mallory"),
        ("actor_id", 99),
        ("prev_hash", "f" * 64),
    ]:
        saved = getattr(event, field)
        setattr(event, field, value)
        assert event.compute_hash() != original, field
        setattr(event, field, saved)
    assert event.compute_hash() == original


@pytest.mark.parametrize(
    "ip, stored",
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("not-an-ip", None),
        ("", None),
    ],
)
def test_ip_is_stored_in_one_spelling_and_hashes_the_same_after_reading(ip, stored):
    event = AuditEvent.objects.get(pk=audit_record(action=AuditAction.LOGIN, ip=ip).pk)
    assert event.ip == stored
    assert event.hash == event.compute_hash()


def test_json_values_hash_the_same_after_a_database_round_trip():
    values = {
        "whole_float": 1.0,
        "big_float": 1e20,
        "small_float": 1e-7,
        "fraction": 0.1,
        "unicode": "Zürich ✓",
        "nul": "a\x00b",
        "nested": {"list": [3, 2, 1], "tuple": (1, 2), "none": None, "bool": False},
        "when": __import__("datetime").datetime(2024, 1, 2, 3, 4, 5),
    }
    event = AuditEvent.objects.get(pk=audit_record(action=AuditAction.LOGIN, after=values).pk)
    assert event.hash == event.compute_hash()
    assert event.after["whole_float"] == 1
    assert event.after["nul"] == "a\ufffdb"
    assert event.after["when"] == "2024-01-02T03:04:05"


def test_unknown_action_is_refused_and_nothing_is_written():
    with pytest.raises(ValueError):
        audit_record(action="rekeyed_by_magic")
    assert AuditEvent.objects.count() == 0


def test_before_must_be_a_mapping():
    with pytest.raises(TypeError):
        audit_record(action=AuditAction.LOGIN, before=["not", "a", "dict"])
    assert AuditEvent.objects.count() == 0


def test_long_values_are_cut_to_the_column_size():
    event = AuditEvent.objects.get(
        pk=audit_record(action=AuditAction.LOGIN, device_id="d" * 300, request_id="r" * 100).pk
    )
    assert (len(event.device_id), len(event.request_id)) == (256, 64)
    assert event.hash == event.compute_hash()


# --- the secret guard -----------------------------------------------------------------------

SECRET = "739104-SECRET-CODE"


@pytest.mark.parametrize(
    "key",
    [
        "verify_code",
        "verifyCode",
        "VerifyCode",
        "custom_verify_code",
        "verify-code",
        "password",
        "new_password",
        "password_hash",
        "app_secret",
        "appSecret",
        "secret",
        "token",
        "access_token",
        "accessToken",
        "refresh_token",
        "psk",
        "client_key",
        "private_key",
    ],
)
def test_values_under_secret_like_keys_never_reach_the_database(key, caplog):
    with caplog.at_level(logging.WARNING, logger="audit"):
        event = audit_record(
            action=AuditAction.CODE_ISSUED,
            before={key: SECRET},
            after={"nested": {key: SECRET}, "list": [{key: SECRET}]},
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert SECRET not in repr(stored.before) + repr(stored.after)
    assert stored.before == {key: "[redacted]"}
    assert stored.after == {"nested": {key: "[redacted]"}, "list": [{key: "[redacted]"}]}
    assert key in caplog.text
    assert SECRET not in caplog.text
    assert stored.hash == stored.compute_hash()


@pytest.mark.parametrize(
    "detail",
    [
        f"verifyCode={SECRET}",
        f"verify_code: {SECRET}",
        f'{{"verifyCode": "{SECRET}", "timeout": 180}}',
        f"password='{SECRET}' for alice",
        f"app_secret = {SECRET}",
        f"token={SECRET}&x=1",
    ],
)
def test_secrets_written_as_name_value_in_detail_are_blanked(detail):
    event = audit_record(action=AuditAction.CODE_ISSUED, detail=detail)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert SECRET not in stored.detail
    assert "[redacted]" in stored.detail


def test_secrets_inside_string_values_are_blanked():
    event = audit_record(action=AuditAction.SWAP_FAILED, after={"message": f"verifyCode={SECRET}"})
    assert SECRET not in repr(AuditEvent.objects.get(pk=event.pk).after)


def test_descriptions_of_secrets_are_kept():
    after = {
        "verify_code_mode": "platform",
        "verify_code_expires_at": "2030-01-01T00:00:00+00:00",
        "password_changed": True,
        "token": None,
        "timeout": 180,
        "node_id": "urn:imei:490154203237518",
    }
    event = audit_record(action=AuditAction.CODE_ISSUED, after=after, detail="code mode: platform")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.after == after
    assert stored.detail == "code mode: platform"


def test_objects_create_also_chains_and_redacts():
    event = AuditEvent.objects.create(action=AuditAction.LOGIN, after={"password": "hunter2"})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.after == {"password": "[redacted]"}
    assert stored.prev_hash == GENESIS_HASH and stored.hash == stored.compute_hash()


# --- append-only through the ORM -------------------------------------------------------------


def test_orm_refuses_to_save_an_existing_event_again():
    event = audit_record(action=AuditAction.LOGIN)
    event.detail = "edited"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.get(pk=event.pk).save(update_fields=["detail"])
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs, e: e.delete(),
        lambda qs, e: qs.delete(),
        lambda qs, e: qs.update(detail="x"),
        lambda qs, e: AuditEvent.objects.bulk_update([e], ["detail"]),
        lambda qs, e: AuditEvent.objects.bulk_create([AuditEvent(action="login")]),
    ],
)
def test_orm_refuses_update_delete_and_bulk_writes(operation):
    event = audit_record(action=AuditAction.LOGIN)
    with pytest.raises(AppendOnlyError):
        operation(AuditEvent.objects.all(), event)
    assert list(AuditEvent.objects.values_list("pk", "detail")) == [(event.pk, "")]


def test_deleting_a_user_leaves_their_events_untouched():
    bob = User.objects.create_user("bob")
    event = audit_record(action=AuditAction.CODE_VIEWED, actor=bob, swap_id=7)
    bob.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_name) == (event.actor_id, "bob")
    assert stored.hash == stored.compute_hash()
