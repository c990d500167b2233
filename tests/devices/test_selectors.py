import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Swap, SwapState
from devices.selectors import device_search, swap_for_user, swap_history, swaps_for_device
from tests.devices.factories import make_device, make_swap, make_user

pytestmark = pytest.mark.django_db

IMEI = "862177041314827"


def names(page):
    return [d.name for d in page.items]


@pytest.fixture
def catalogue():
    return {
        "qualcomm": make_device(node_id=f"urn:imei:{IMEI}", name="Water meter North"),
        "mac": make_device(node_id="AA:BB:CC:DD:EE:0F", name="Gateway East"),
        "serial": make_device(node_id="SN-7781", name="Street light 7"),
        "other": make_device(name="Water meter South"),
    }


@pytest.mark.parametrize(
    "typed",
    [IMEI, f"urn:imei:{IMEI}", "8621770413", " 862177041314827 "],
)
def test_imei_matches_with_or_without_urn_exact_or_prefix(catalogue, typed):
    assert names(device_search(query=typed)) == ["Water meter North"]


@pytest.mark.parametrize(
    "typed",
    ["aa:bb:cc:dd:ee:0f", "AA-BB-CC-DD-EE-0F", "aabb.ccdd.ee0f", "aabbccddee0f", "aa:bb:cc"],
)
def test_mac_matches_in_any_notation(catalogue, typed):
    assert names(device_search(query=typed)) == ["Gateway East"]


def test_device_id_matches_exactly(catalogue):
    device = catalogue["serial"]
    assert names(device_search(query=device.device_id)) == ["Street light 7"]


def test_name_matches_as_a_case_insensitive_prefix(catalogue):
    assert names(device_search(query="water METER")) == ["Water meter North", "Water meter South"]
    assert names(device_search(query="meter")) == []  # prefix, not substring: see the docstring


def test_deleted_devices_are_left_out(catalogue):
    catalogue["serial"].deleted_on_platform_at = "2024-01-01T00:00:00Z"
    catalogue["serial"].save()
    assert names(device_search(query="Street")) == []
    assert names(device_search(query="Street", include_deleted=True)) == ["Street light 7"]


def test_keyset_pages_walk_every_device_once_in_name_order():
    for i in range(7):
        make_device(name=f"Meter {i % 3}")  # duplicate names: the id breaks the tie
    seen, after = [], None
    while True:
        page = device_search(query="", after=after, limit=3)
        seen += page.items
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert len(seen) == 7
    assert len({d.pk for d in seen}) == 7
    assert [(d.name, d.pk) for d in seen] == sorted((d.name, d.pk) for d in seen)


@pytest.mark.parametrize("cursor", ["garbage!", "W10", "WyJhIl0", "x" * 5000])
def test_a_tampered_cursor_starts_from_the_first_page(cursor):
    make_device(name="A")
    assert names(device_search(query="", after=cursor)) == ["A"]


def test_search_sql_uses_no_offset_and_no_count():
    make_device(name="A")
    make_device(name="B")
    with CaptureQueriesContext(connection) as queries:
        page = device_search(query="", limit=1)
        device_search(query="", after=page.next_cursor, limit=1)
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql


@pytest.mark.parametrize("rows", [1, 50])
def test_device_search_costs_one_query_for_1_or_50_rows(rows, django_assert_num_queries):
    for i in range(rows):
        make_device(name=f"Meter {i:03d}")
    with django_assert_num_queries(1):
        page = device_search(query="Meter", limit=50)
    assert len(page.items) == rows


# --- swaps --------------------------------------------------------------------------------------


def test_requester_helpdesk_and_supervisor_see_a_swap_other_field_staff_do_not():
    swap = make_swap()
    for user in (swap.requested_by, make_user(role="helpdesk"), make_user(role="supervisor")):
        assert swap_for_user(user=user, swap_id=swap.pk) == swap
    with pytest.raises(PermissionDenied):
        swap_for_user(user=make_user(role="field_service"), swap_id=swap.pk)
    with pytest.raises(Swap.DoesNotExist):
        swap_for_user(user=swap.requested_by, swap_id=swap.pk + 1000)


def test_field_staff_history_holds_only_their_own_swaps():
    mine = make_swap()
    make_swap()
    page = swap_history(user=mine.requested_by)
    assert [s.pk for s in page.items] == [mine.pk]
    assert len(swap_history(user=make_user(role="supervisor")).items) == 2


def test_history_filters_by_state_and_device():
    bound = make_swap(state=SwapState.BOUND)
    make_swap(state=SwapState.FAILED)
    supervisor = make_user(role="supervisor")
    assert [s.pk for s in swap_history(user=supervisor, state="bound").items] == [bound.pk]
    by_device = swap_history(user=supervisor, device_query=bound.device.name)
    assert [s.pk for s in by_device.items] == [bound.pk]


def test_history_pages_newest_first_without_repeats():
    swaps = [make_swap() for _ in range(5)]
    supervisor = make_user(role="supervisor")
    seen, after = [], None
    while True:
        page = swap_history(user=supervisor, after=after, limit=2)
        seen += [s.pk for s in page.items]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert seen == [s.pk for s in sorted(swaps, key=lambda s: (s.created_at, s.pk), reverse=True)]


@pytest.mark.parametrize("rows", [1, 50])
def test_history_costs_one_query_for_1_or_50_rows(rows, django_assert_num_queries):
    supervisor = make_user(role="supervisor")
    device = make_device()
    for _ in range(rows):
        Swap.objects.create(
            device=device,
            requested_by=supervisor,
            old_node_id="a",
            new_node_id="b",
            node_id_kind="serial",
            state=SwapState.FAILED,
        )
    supervisor = type(supervisor).objects.get(pk=supervisor.pk)
    supervisor.get_all_permissions()  # permission cache warm, as after the auth middleware
    with django_assert_num_queries(1):
        page = swap_history(user=supervisor, limit=50)
        for swap in page.items:
            str(swap.device), swap.requested_by.username  # what the history page shows
    assert len(page.items) == rows


def test_swaps_for_device_respects_visibility():
    swap = make_swap()
    make_swap(device=swap.device, state=SwapState.FAILED)
    assert len(swaps_for_device(device=swap.device, user=make_user(role="helpdesk"))) == 2
    assert swaps_for_device(device=swap.device, user=swap.requested_by) == [swap]
