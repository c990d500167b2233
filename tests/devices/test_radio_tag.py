"""`{% radio_tag radio %}` writes the `<input>` that `{{ radio.tag }}` renders through Django's
form templates: pinned against it for the swap form and for awkward values and attributes."""

from __future__ import annotations

import pytest
from django import forms
from django.utils.safestring import mark_safe

from devices.forms import SwapForm
from devices.templatetags.devices_ui import radio_tag
from tests.factories import DeviceFactory, UserFactory


def _pairs(form: forms.Form, name: str) -> list[tuple[str, str]]:
    return [(str(radio_tag(radio)), str(radio.tag())) for radio in form[name]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        None,  # a fresh form, defaults checked
        {"kind": "imei", "chipset": "qualcomm", "verify_code_mode": "custom"},
        {"kind": "not-a-kind", "verify_code_mode": '"><script>x</script>'},  # errors
    ],
    ids=["unbound", "bound", "invalid"],
)
def test_the_swap_forms_radio_buttons_are_the_templates_html(data):
    device = DeviceFactory()
    user = UserFactory(field_service=True)
    form = SwapForm(data, device=device, user=user)
    if data is not None:
        form.is_valid()
    for name in ("kind", "chipset", "verify_code_mode"):
        pairs = _pairs(form, name)
        assert pairs, name
        for ours, django in pairs:
            assert ours == django


class AwkwardForm(forms.Form):
    choice = forms.ChoiceField(
        choices=[
            ("a&b", "A & B"),
            ('q"uote', "quote"),
            ("<tag>", "tag"),
            (5, "five"),
            (mark_safe("&amp;safe"), "safe"),
        ],
        widget=forms.RadioSelect(
            attrs={
                "class": 'x "y" <z>',
                "data-on": True,
                "data-off": False,
                "data-n": 3,
                "hx-vals": '{"a": 1}',
            }
        ),
    )
    tick = forms.MultipleChoiceField(
        choices=[("1", "one"), ("2", "two")], widget=forms.CheckboxSelectMultiple
    )


@pytest.mark.parametrize("data", [None, {"choice": "<tag>", "tick": ["2"]}])
def test_awkward_values_and_attributes_are_the_templates_html(data):
    form = AwkwardForm(data)
    for name in ("choice", "tick"):
        for ours, django in _pairs(form, name):
            assert ours == django
    html = "".join(ours for ours, _ in _pairs(form, "choice"))
    assert "<tag>" not in html
    assert 'value="&lt;tag&gt;"' in html
    assert 'class="x &quot;y&quot; &lt;z&gt;"' in html
    assert "data-off" not in html
