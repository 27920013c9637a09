"""Input from anyone on the internet (forms, referrers) never reaches the database unusable."""

from __future__ import annotations

import pytest

from leadsift.contacts.forms import read_submission
from leadsift.engagement.tokens import without_identify_parameter
from leadsift.errors import InvalidInputError


@pytest.mark.parametrize("url", ["http://[", "https://[::1/x?a=1", "http://[zz]/"])
def test_an_unparsable_referrer_is_kept_as_sent(url: str) -> None:
    assert without_identify_parameter(url) == url


def test_a_nul_in_any_form_field_is_refused_with_its_name() -> None:
    values = {"email": "ana@example.com", "first_name": "A\x00na"}
    with pytest.raises(InvalidInputError, match="first_name: contains a NUL"):
        read_submission(values, region="FR", ip=None, user_agent=None)
