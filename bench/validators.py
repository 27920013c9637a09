"""Time the reference validators against the public (fast-path) ones on a realistic import.

Run from the repository root, with leadsift importable (`pip install -e .`, or PYTHONPATH=src):

    python bench/validators.py [--emails 200000] [--phones 200000] [--seed 7]

Prints the machine, the data size, values/s for each function, the speed-up, and the share of
values the public functions handed to the reference. Single-threaded: no numpy-backed library is
imported, so there is no thread pool to cap.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import string
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import email_validator
import phonenumbers

from leadsift.contacts import validators

_FIRST = [
    "jean",
    "marie",
    "pierre",
    "anne",
    "francois",
    "elodie",
    "chloe",
    "lea",
    "thomas",
    "nicolas",
    "camille",
    "lucas",
    "ines",
    "oceane",
    "sebastien",
    "gaelle",
    "jerome",
]
_LAST = [
    "dupont",
    "martin",
    "bernard",
    "durand",
    "petit",
    "leroy",
    "moreau",
    "lefevre",
    "garcon",
    "nguyen",
    "benali",
    "dubois-martin",
    "faure",
    "rousseau",
    "lemaitre",
]
_DOMAINS = [
    "gmail.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "hotmail.fr",
    "yahoo.fr",
    "outlook.com",
    "acme.fr",
    "groupe-legrand.com",
    "mail.cabinet-martin.fr",
    "univ-lyon1.fr",
    "societe.fr",
    "bati-ouest.fr",
]
_FRENCH_FORMATS = [
    "0{p} {a} {b} {c} {d}",
    "0{p}.{a}.{b}.{c}.{d}",
    "0{p}-{a}-{b}-{c}-{d}",
    "0{p}{a}{b}{c}{d}",
    "+33{p}{a}{b}{c}{d}",
    "+33 {p} {a} {b} {c} {d}",
    "+33 (0){p} {a} {b} {c} {d}",
    "0033 {p} {a} {b} {c} {d}",
]
_FOREIGN = [
    "+1 650 253 0000",
    "+44 20 8366 1177",
    "+49 30 123456",
    "+32 470 12 34 56",
    "+41 79 123 45 67",
    "+352 621 123 456",
    "+34 612 34 56 78",
    "+39 06 1234 5678",
    "+212 6 12 34 56 78",
    "+262 692 12 34 56",
    "+590 690 12 34 56",
]


def _emails(rng: random.Random, count: int) -> list[str]:
    """Return CRM-like addresses, about 1 % of them broken."""
    out: list[str] = []
    for _ in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = rng.choice(
            [
                f"{first}.{last}",
                f"{first[0]}.{last}",
                f"{first}{last}",
                f"{first}.{last}{rng.randint(1, 99)}",
                f"{first}.{last}+crm",
            ]
        )
        email = f"{local}@{rng.choice(_DOMAINS)}"
        if rng.random() < 0.1:
            email = email.title()
        if rng.random() < 0.01:
            email = rng.choice(
                [
                    email.replace("@", " "),
                    email.replace(".", "..", 1),
                    email + ".",
                    email.split("@")[0] + "@gmail",
                ]
            )
        out.append(email)
    return out


def _phones(rng: random.Random, count: int) -> list[str]:
    """Return CRM-like phone numbers: French notations, some foreign, about 4 % broken."""
    out: list[str] = []
    for _ in range(count):
        if rng.random() < 0.92:
            prefix = rng.choice("6666777112345999")
            # Allocated ranges only (07 starts 073-079, 04 has no 040), so that "clean" numbers
            # are valid and the broken share is the one chosen below.
            first = rng.choice("3456789") if prefix == "7" else rng.choice("123456789")
            a = first + rng.choice(string.digits)
            b, c, d = (f"{rng.randrange(100):02d}" for _ in range(3))
            phone = rng.choice(_FRENCH_FORMATS).format(p=prefix, a=a, b=b, c=c, d=d)
        else:
            phone = rng.choice(_FOREIGN)
        if rng.random() < 0.04:
            phone = rng.choice(
                [
                    phone[:-2],
                    phone + "7",
                    phone.replace("1", "l"),
                    "".join(rng.choice(string.digits) for _ in range(6)),
                ]
            )
        out.append(phone)
    return out


def _rate(function: Callable[[str], Any], values: Sequence[str]) -> tuple[float, int]:
    """Return values/s and how many values the function accepted."""
    for value in values[:500]:  # warm caches (regex compilation, lazy metadata) before timing
        function(value)
    start = time.perf_counter()
    accepted = sum(function(value) is not None for value in values)
    elapsed = time.perf_counter() - start
    return len(values) / elapsed, accepted


def _fallback_share(kind: str, values: Sequence[str]) -> float:
    """Return the share of values the public function sent to the reference (untimed pass)."""
    name = f"reference_normalise_{kind}"
    original = getattr(validators, name)
    calls = 0

    def counting(*args: Any) -> str | None:
        nonlocal calls
        calls += 1
        result: str | None = original(*args)
        return result

    setattr(validators, name, counting)
    try:
        public = getattr(validators, f"normalise_{kind}")
        for value in values:
            public(value)
    finally:
        setattr(validators, name, original)
    return calls / len(values)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200_000)
    parser.add_argument("--phones", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    emails, phones = _emails(rng, args.emails), _phones(rng, args.phones)

    print(
        f"machine   : {platform.platform()} / {platform.machine()} / "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    print(f"cpu_count : {os.cpu_count()} (benchmark is single-threaded)")
    print(
        f"libraries : email-validator {email_validator.__version__}, "
        f"phonenumbers {phonenumbers.__version__}"
    )
    print(f"fast path : FAST_VALIDATORS={validators.FAST_VALIDATORS}")
    print(f"data      : {len(emails):,} emails, {len(phones):,} phones (seed {args.seed})")
    print()
    print(
        f"{'':8} {'reference/s':>12} {'public/s':>12} {'speed-up':>9} {'accepted':>9} "
        f"{'to reference':>13}"
    )
    totals = {"reference": 0.0, "public": 0.0}
    for kind, values in (("email", emails), ("phone", phones)):
        reference = getattr(validators, f"reference_normalise_{kind}")
        public = getattr(validators, f"normalise_{kind}")
        reference_rate, reference_accepted = _rate(reference, values)
        public_rate, public_accepted = _rate(public, values)
        if public_accepted != reference_accepted:
            sys.exit(f"{kind}: public accepted {public_accepted}, reference {reference_accepted}")
        share = _fallback_share(kind, values)
        totals["reference"] += 1_000_000 / reference_rate
        totals["public"] += 1_000_000 / public_rate
        print(
            f"{kind:8} {reference_rate:12,.0f} {public_rate:12,.0f} "
            f"{public_rate / reference_rate:8.1f}x {public_accepted / len(values):9.1%} "
            f"{share:13.1%}"
        )
    print()
    print(
        f"1M emails + 1M phones on one core: reference {totals['reference']:.1f} s, "
        f"public {totals['public']:.1f} s"
    )


if __name__ == "__main__":
    main()
