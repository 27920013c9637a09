"""`leadsift track link|pixel`: register campaign links, print tracked URLs for emails."""

from __future__ import annotations

from typing import Annotated

import typer

from leadsift.contacts.lookup import find_contact
from leadsift.engagement import tracked_links
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import CliState, emit_json, key_value_table, state, stderr, stdout
from leadsift.kit.clock import utcnow

track_app = typer.Typer(
    help="Tracked email links and open pixels (click redirects go only to registered URLs).",
    no_args_is_help=True,
)

CampaignOption = Annotated[str, typer.Option("--campaign", help="The campaign's name.")]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="The app's public URL, e.g. https://track.example.com "
        "(default: $LEADSIFT_PUBLIC_URL).",
    ),
]


def _base_url(cli: CliState, given: str | None) -> str:
    base = given or cli.settings.public_url
    if not base:
        raise InvalidInputError(
            "give --base-url (the address where this app is reached from the internet) "
            "or set LEADSIFT_PUBLIC_URL"
        )
    return base


@track_app.command("link")
def track_link(
    ctx: typer.Context,
    campaign: CampaignOption,
    url: Annotated[str, typer.Option("--url", help="Where the link leads (http or https).")],
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Print the tracked URL for this contact (id, email…)."),
    ] = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Register URL for CAMPAIGN (again: the same link); with --contact, print its tracked URL."""
    cli = state(ctx)
    base = _base_url(cli, base_url) if contact is not None else ""
    contact_id: int | None = None
    tracked: str | None = None
    with cli.unit_of_work() as session:
        link, created = tracked_links.register_link(session, campaign, url, utcnow())
        if contact is not None:
            contact_id = find_contact(session, contact, cli.settings.default_region).id
            tracked = tracked_links.click_url(session, base, link, contact_id)
    verb = "registered" if created else "already registered"
    if cli.json_output:
        emit_json(
            {
                "link": {"id": link.id, "campaign": link.campaign, "url": link.url},
                "created": created,
                "contact_id": contact_id,
                "tracked_url": tracked,
            }
        )
    elif tracked is not None:
        stdout.print(tracked, markup=False, highlight=False, soft_wrap=True)
        stderr.print(f"link {link.id} ({verb}) for contact {contact_id}", markup=False)
    else:
        rows = {"id": link.id, "campaign": link.campaign, "url": link.url}
        stdout.print(key_value_table(f"Link {verb}", rows))


@track_app.command("pixel")
def track_pixel(
    ctx: typer.Context,
    campaign: CampaignOption,
    contact: Annotated[str, typer.Option("--contact", help="The contact (id, email, phone…).")],
    base_url: BaseUrlOption = None,
) -> None:
    """Print the open-tracking pixel URL of CONTACT for CAMPAIGN."""
    cli = state(ctx)
    base = _base_url(cli, base_url)
    with cli.unit_of_work() as session:
        found = find_contact(session, contact, cli.settings.default_region)
        pixel = tracked_links.pixel_url(session, base, campaign, found.id)
    if cli.json_output:
        emit_json({"campaign": campaign.strip(), "contact_id": found.id, "pixel_url": pixel})
        return
    stdout.print(pixel, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `track` to the root command."""
    app.add_typer(track_app, name="track")
