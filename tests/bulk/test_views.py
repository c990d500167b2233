"""The bulk pages: upload (and every bad file), preview, who may confirm, the result file."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from bulk.models import BatchState, BulkBatch, BulkRow, RowState
from bulk.services import bulk_upload
from devices.models import DeviceStatus, SwapState
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei

pytestmark = pytest.mark.django_db
UPLOAD = reverse("bulk:upload")


@pytest.fixture
def helpdesk(client):
    user = UserFactory(helpdesk=True)
    client.force_login(user)
    return user


def upload(client, data: bytes, name: str = "swaps.csv"):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, data, "text/csv")})


def assert_nothing_stored():
    assert BulkBatch.objects.count() == 0
    assert BulkRow.objects.count() == 0


def test_field_service_may_not_open_bulk_swaps(client):
    client.force_login(UserFactory(field_service=True))
    assert client.get(UPLOAD).status_code == 403
    assert upload(client, csv_bytes(line("a", "b"))).status_code == 403
    assert_nothing_stored()


def test_the_upload_page_names_the_columns(client, helpdesk):
    page = client.get(UPLOAD).content.decode()
    assert "new_node_id" in page and "verify_code_mode" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (csv_bytes(line("dev", "x", ticket="Müller"), encoding="utf-16"), "The file is not UTF-8"),
        (csv_bytes(line("dev", "x", ticket="Müller"), encoding="latin-1"), "save it as CSV UTF-8"),
        (csv_bytes("a,b", header="device,new_node_id"), "missing the columns kind, chipset"),
        (csv_bytes(*[line(f"d{n}", str(n)) for n in range(100_000)]), "at most 5,000 rows"),
        (b"", "The file is empty"),
    ],
    ids=["utf-16", "latin-1", "missing-columns", "100000-rows", "empty"],
)
def test_a_bad_file_gets_its_message_and_nothing_is_stored(client, helpdesk, data, message):
    response = upload(client, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert_nothing_stored()


def test_no_file_at_all_gets_a_message(client, helpdesk):
    response = client.post(UPLOAD, {})
    assert "Choose a CSV file to upload." in response.content.decode()
    assert_nothing_stored()


def test_a_50_mb_upload_gets_a_clear_message_not_an_error_page(client, helpdesk):
    one = (line("dev-00000001", make_imei()) + "\r\n").encode()
    body = csv_bytes() + one * (50 * 1024 * 1024 // len(one) + 1)
    assert len(body) > 50 * 1024 * 1024
    response = upload(client, body)
    assert response.status_code == 413
    page = response.content.decode()
    assert "The file is larger than 5 MB" in page
    assert '<form method="post" enctype="multipart/form-data"' in page
    assert_nothing_stored()


def test_a_50_mb_body_that_is_not_a_file_gets_the_same_message(client, helpdesk):
    body = b"file=" + b"x" * (50 * 1024 * 1024)
    response = client.post(UPLOAD, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "The file is larger than 5 MB" in response.content.decode()
    assert_nothing_stored()


def test_the_upload_checks_csrf(helpdesk):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(helpdesk)
    response = strict.post(UPLOAD, {"file": SimpleUploadedFile("a.csv", b"x", "text/csv")})
    assert response.status_code == 403
    assert_nothing_stored()


def test_a_good_file_shows_the_preview_with_each_verdict(client, helpdesk):
    good = DeviceFactory()
    online = DeviceFactory(status=DeviceStatus.ONLINE)
    response = upload(
        client,
        csv_bytes(
            line(good.device_id, make_imei()),
            line(online.device_id, make_imei()),
            line("nobody", make_imei()),
        ),
    )
    batch = BulkBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("bulk:batch", kwargs={"pk": batch.pk})
    page = client.get(response["Location"]).content.decode()
    assert "Preview: nothing has been sent" in page
    assert "1 ready" in page and "2 not sendable" in page
    assert "The device is online (as last synced)" in page
    assert "No device with deviceId or nodeId nobody" in page
    assert "Send the 1 ready row" in page
    assert batch.state == BatchState.PREVIEW
    assert [r.state for r in batch.rows.order_by("line")] == [
        RowState.READY,
        RowState.INVALID,
        RowState.INVALID,
    ]


def test_no_confirm_button_when_no_row_is_ready(client, helpdesk):
    upload(client, csv_bytes(line("nobody", make_imei())))
    page = client.get(reverse("bulk:batch", kwargs={"pk": BulkBatch.objects.get().pk}))
    assert "Send the" not in page.content.decode()
    assert "No row can be sent" in page.content.decode()


def test_only_the_uploader_can_confirm(client, helpdesk):
    batch = bulk_upload(
        actor=UserFactory(helpdesk=True),
        filename="x.csv",
        data=csv_bytes(line(DeviceFactory().device_id, make_imei())),
    )
    response = client.post(reverse("bulk:confirm", kwargs={"pk": batch.pk}))
    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.state == BatchState.PREVIEW
    assert batch.rows.get().state == RowState.READY


def test_confirm_queues_the_ready_rows_only(client, helpdesk):
    batch = bulk_upload(
        actor=helpdesk,
        filename="x.csv",
        data=csv_bytes(line(DeviceFactory().device_id, make_imei()), line("nobody", make_imei())),
    )
    response = client.post(reverse("bulk:confirm", kwargs={"pk": batch.pk}))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == BatchState.CONFIRMED
    assert sorted(batch.rows.values_list("state", flat=True)) == [
        RowState.INVALID,
        RowState.WAITING,
    ]
    # a second confirm changes nothing
    client.post(reverse("bulk:confirm", kwargs={"pk": batch.pk}))
    assert batch.rows.filter(state=RowState.WAITING).count() == 1


def test_discard_drops_a_preview(client, helpdesk):
    batch = bulk_upload(
        actor=helpdesk,
        filename="x.csv",
        data=csv_bytes(line(DeviceFactory().device_id, make_imei())),
    )
    assert client.post(reverse("bulk:discard", kwargs={"pk": batch.pk})).status_code == 302
    batch.refresh_from_db()
    assert batch.state == BatchState.DISCARDED


def _sent_batch(uploader, *, expires_in: timedelta | None, verify_code: str = "Code-7781"):
    """A confirmed batch whose one row has a swap with an issued code."""
    device = DeviceFactory()
    batch = bulk_upload(
        actor=uploader, filename="x.csv", data=csv_bytes(line(device.device_id, make_imei()))
    )
    swap = SwapFactory(
        issued=True,
        device=device,
        requested_by=uploader,
        verify_code=verify_code,
        code_expires_at=timezone.now() + expires_in if expires_in else None,
    )
    BulkBatch.objects.filter(pk=batch.pk).update(state=BatchState.CONFIRMED)
    batch.rows.update(state=RowState.SUBMITTED, swap=swap)
    return batch, swap


def result_rows(client, batch):
    response = client.get(reverse("bulk:result_csv", kwargs={"pk": batch.pk}))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    return [r.split(",") for r in text.strip().splitlines()]


def test_the_result_file_shows_the_code_to_the_uploader_and_audits_it(client, helpdesk):
    batch, swap = _sent_batch(helpdesk, expires_in=timedelta(minutes=3))
    header, row = result_rows(client, batch)
    assert header == [
        "row",
        "device",
        "new_node_id",
        "state",
        "error_code",
        "handling_text",
        "verify_code",
    ]
    assert row[0] == "2" and row[1] == swap.device.device_id and row[3] == "Code issued"
    assert row[6] == "Code-7781"
    assert AuditEvent.objects.filter(action=AuditAction.CODE_VIEWED, swap_id=swap.pk).count() == 1


def test_another_helpdesk_user_gets_the_file_without_codes(client, helpdesk):
    batch, _swap = _sent_batch(UserFactory(helpdesk=True), expires_in=timedelta(minutes=3))
    _header, row = result_rows(client, batch)
    assert row[3] == "Code issued"
    assert row[6] == ""
    assert not AuditEvent.objects.filter(action=AuditAction.CODE_VIEWED).exists()


def test_an_expired_code_is_not_in_the_file(client, helpdesk):
    batch, _swap = _sent_batch(helpdesk, expires_in=timedelta(seconds=-1))
    _header, row = result_rows(client, batch)
    assert row[6] == ""


def test_the_result_file_keeps_refusals_and_neutralises_formulas(client, helpdesk):
    batch = bulk_upload(
        actor=helpdesk, filename="x.csv", data=csv_bytes(line("=cmd()", make_imei()))
    )
    _header, row = result_rows(client, batch)
    assert row[1] == "'=cmd()"
    assert row[3] == "Not sendable" and row[4] == "unknown_device"


def test_the_result_file_neutralises_a_code_that_looks_like_a_formula(client, helpdesk):
    batch, _swap = _sent_batch(helpdesk, expires_in=timedelta(minutes=3), verify_code="=2+3")
    _header, row = result_rows(client, batch)
    assert row[6] == "'=2+3"


def test_the_rows_page_costs_the_same_queries_for_1_and_50_rows(
    client, helpdesk, django_assert_num_queries
):
    small = bulk_upload(
        actor=helpdesk,
        filename="a.csv",
        data=csv_bytes(line(DeviceFactory().device_id, make_imei())),
    )
    big = bulk_upload(
        actor=helpdesk,
        filename="b.csv",
        data=csv_bytes(*[line(DeviceFactory().device_id, make_imei()) for _ in range(50)]),
    )
    url = reverse("bulk:batch", kwargs={"pk": small.pk})
    client.get(url)  # session and permission caches warm
    with CaptureQueriesContext(connection) as small_queries:
        client.get(url, HTTP_HX_REQUEST="true")
    assert len(small_queries) <= 10
    with django_assert_num_queries(len(small_queries)):
        response = client.get(reverse("bulk:batch", kwargs={"pk": big.pk}), HTTP_HX_REQUEST="true")
    assert response.content.decode().count('<tr id="row-') == 50


def test_a_confirmed_batch_polls_while_rows_are_open_and_stops_after(client, helpdesk):
    batch, swap = _sent_batch(helpdesk, expires_in=timedelta(minutes=3))
    swap.state = SwapState.QUEUED
    swap.save()
    url = reverse("bulk:batch", kwargs={"pk": batch.pk})
    live = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in live and "0 of 1 done (0%)" in live
    swap.state = SwapState.CODE_ISSUED
    swap.save()
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' not in done and "1 of 1 done (100%)" in done
