"""docs/COSTS.md recomputed from its own unit prices, its summary table with it.

The document keeps its numbers in machine-checkable tables (its "How to read the tables"):

* the unit prices, one row each with an id (tiered prices repeat the id, one row a tier);
* line-item tables: ``per request x requests = quantity``, ``quantity x unit price = cost``
  (the document writes the multiplication sign), and total rows that add lines up
  ("sum of R1-R7, T2", with an en dash).

Every quantity, cost and total is recomputed here with exact fractions, rounded the way the
document says, and compared with what is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from tests.helpers import ROOT

COSTS = (ROOT / "docs" / "COSTS.md").read_text(encoding="utf-8")

TIMES = "\u00d7"  # the multiplication sign, as the document writes it
PRICE_HEADER = ("id", "service", "item", "price", "per", "tier (a month)")
LINES_HEADER = ("#", "line", "per request", f"{TIMES} requests", "= quantity", "unit price", "cost")

GIB = Fraction(2**30)
# unit -> (factor to the canonical unit, dimension). Bytes are counted in GiB (2^30 bytes:
# what AWS calls a "GB" in its prices), time in seconds; counted things are their own
# dimension, so that WRU cannot be priced as requests.
Dimension = tuple[tuple[str, int], ...]
UNITS: dict[str, tuple[Fraction, Dimension]] = {
    "": (Fraction(1), ()),
    "%": (Fraction(1, 100), ()),
    "bytes": (1 / GIB, (("data", 1),)),
    "KiB": (Fraction(2**10) / GIB, (("data", 1),)),
    "MiB": (Fraction(2**20) / GIB, (("data", 1),)),
    "GiB": (Fraction(1), (("data", 1),)),
    "TiB": (Fraction(2**10), (("data", 1),)),
    "ms": (Fraction(1, 1000), (("time", 1),)),
    "s": (Fraction(1), (("time", 1),)),
    "GiB-s": (Fraction(1), (("data", 1), ("time", 1))),
    "request": (Fraction(1), (("request", 1),)),
    "requests": (Fraction(1), (("request", 1),)),
    "email": (Fraction(1), (("email", 1),)),
    "emails": (Fraction(1), (("email", 1),)),
    "WRU": (Fraction(1), (("WRU", 1),)),
    "RRU": (Fraction(1), (("RRU", 1),)),
    "GiB-month": (Fraction(1), (("data", 1), ("month", 1))),
    "metric-month": (Fraction(1), (("metric", 1), ("month", 1))),
    "alarm-month": (Fraction(1), (("alarm", 1), ("month", 1))),
}


@dataclass(frozen=True)
class Quantity:
    value: Fraction  # in the canonical unit of its dimension
    dimension: Dimension


def number(text: str) -> Fraction:
    """``1,000,000`` or ``0.0000166667`` exactly (never through a float)."""
    assert re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d+)?|\d+(\.\d+)?", text), text
    return Fraction(text.replace(",", ""))


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def quantity(text: str) -> Quantity:
    """One factor: ``20 ms``, ``1,100 bytes``, ``2%``, ``976.5625 GiB``, ``1,000,000``."""
    match = re.fullmatch(r"([\d,.]+)\s*(\S*)", text.strip())
    assert match, f"not a quantity: {text!r}"
    assert match[2] in UNITS, f"unknown unit {match[2]!r} in {text!r}"
    factor, dimension = UNITS[match[2]]
    return Quantity(number(match[1]) * factor, dimension)


def product(text: str) -> Quantity:
    """``2% x 1,000 ms x 1 GiB`` (with multiplication signs): the factors multiplied, and their
    dimensions added up."""
    value = Fraction(1)
    dims: dict[str, int] = {}
    for factor in text.split(TIMES):
        q = quantity(factor)
        value *= q.value
        for name, power in q.dimension:
            dims[name] = dims.get(name, 0) + power
    return Quantity(value, tuple(sorted((k, v) for k, v in dims.items() if v)))


def dollars(text: str) -> Decimal:
    match = re.fullmatch(r"\*{0,2}\+?\$([\d,]+\.\d{2})\*{0,2}", text.strip())
    assert match, f"not a dollar amount to the cent: {text!r}"
    return Decimal(match[1].replace(",", ""))


def unit_price(text: str) -> Fraction:
    """A price as written in the unit-price table, every digit kept: ``$0.0000166667``."""
    match = re.fullmatch(r"\$([\d,.]+)", text)
    assert match, f"not a price: {text!r}"
    return number(match[1])


def cents(value: Fraction) -> Decimal:
    """Rounded to the cent, half up: the document's stated rounding."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def rounded(value: Fraction, places: int) -> Fraction:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return Fraction(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def tables(text: str) -> Iterator[tuple[str, list[tuple[str, ...]]]]:
    """Every Markdown table: the last heading above it, and its rows (header first)."""
    heading = ""
    rows: list[tuple[str, ...]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|"):
            cells = tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            yield heading, rows
            rows = []


@dataclass(frozen=True)
class Tier:
    price: Fraction  # per canonical unit
    dimension: Dimension
    size: Fraction | None  # in canonical units; None: unlimited


def prices() -> dict[str, list[Tier]]:
    found = [rows for heading, rows in tables(COSTS) if rows[0] == PRICE_HEADER]
    assert len(found) == 1, "COSTS.md has exactly one unit-price table"
    table: dict[str, list[Tier]] = {}
    for row in found[0][1:]:
        ident, _service, _item, price, per, tier = row
        assert re.fullmatch(r"`[a-z0-9-]+`", ident), ident
        per_quantity = quantity(per)
        size = None
        if tier:
            match = re.fullmatch(r"(first|next) ([\d,.]+ \S+)(?: \(.*\))?", tier)
            assert match, f"tier not understood: {tier!r}"
            assert (match[1] == "first") == (ident.strip("`") not in table), tier
            tier_size = quantity(match[2])
            assert tier_size.dimension == per_quantity.dimension, tier
            size = tier_size.value
        tiers = table.setdefault(ident.strip("`"), [])
        assert not tiers or tiers[-1].size is not None, f"{ident}: a tier after an unlimited one"
        tiers.append(Tier(unit_price(price) / per_quantity.value, per_quantity.dimension, size))
    return table


def price_of(tiers: list[Tier], amount: Fraction) -> Fraction:
    """What ``amount`` costs on a tiered price, the first tier first."""
    cost = Fraction(0)
    left = amount
    for tier in tiers:
        used = left if tier.size is None else min(left, tier.size)
        cost += used * tier.price
        left -= used
    assert left == 0, "more than the price table's tiers cover"
    return cost


@dataclass(frozen=True)
class Section:
    heading: str
    rows: list[tuple[str, ...]]


def sections() -> list[Section]:
    return [
        Section(heading, rows[1:]) for heading, rows in tables(COSTS) if rows[0] == LINES_HEADER
    ]


def recompute(section: Section) -> dict[str, tuple[Fraction, Decimal]]:
    """Each row's exact cost and the cost written for it, by row id (R1…, T1…).

    Checks along the way that every written quantity is ``per request x requests``
    (to the decimals written) and in the unit price's unit.
    """
    table = prices()
    costs: dict[str, tuple[Fraction, Decimal]] = {}
    for row in section.rows:
        ident, line, per_request, requests, written_quantity, price_id, cost = row
        where = f"{section.heading}, {ident} ({line})"
        assert ident not in costs, f"{where}: id used twice"
        written = dollars(cost)
        if ident.startswith("T"):
            match = re.fullmatch(r"sum of (.+)", per_request)
            assert match, f"{where}: a total says what it adds up"
            exact = Fraction(0)
            for part in match[1].split(", "):
                ends = re.fullmatch(r"([RT])(\d+)(?:\u2013R(\d+))?", part)
                assert ends, f"{where}: {part!r}"
                last = int(ends[3] or ends[2])
                for n in range(int(ends[2]), last + 1):
                    assert f"{ends[1]}{n}" in costs, f"{where}: {ends[1]}{n} not above it"
                    exact += costs[f"{ends[1]}{n}"][0]
            assert not (requests or written_quantity or price_id), where
        else:
            assert re.fullmatch(r"R\d+", ident), f"{where}: line ids are R1, R2, …"
            assert requests == "1,000,000", f"{where}: the sections are per million requests"
            amount = product(f"{per_request} {TIMES} {requests}")
            stated = re.fullmatch(r"([\d,.]+) (\S+)", written_quantity)
            assert stated, f"{where}: quantity {written_quantity!r}"
            stated_quantity = quantity(written_quantity)
            assert stated_quantity.dimension == amount.dimension, f"{where}: units"
            in_unit = amount.value / UNITS[stated[2]][0]
            assert number(stated[1]) == rounded(in_unit, decimals(stated[1])), (
                f"{where}: {per_request} {TIMES} {requests} is {float(in_unit)} {stated[2]}, "
                f"not {written_quantity}"
            )
            tiers = table.get(price_id.strip("`"))
            assert tiers, f"{where}: no unit price {price_id}"
            assert tiers[0].dimension == amount.dimension, f"{where}: priced in other units"
            exact = price_of(tiers, amount.value)
        assert cents(exact) == written, f"{where}: recomputed {cents(exact)}, written {written}"
        costs[ident] = (exact, written)
    return costs


def section(heading: str) -> dict[str, tuple[Fraction, Decimal]]:
    found = [s for s in sections() if s.heading == heading]
    assert len(found) == 1, heading
    return recompute(found[0])


REDIRECT = "One million redemptions, redirect path (curl, API clients, any file over 4 MiB)"
STREAM = "One million redemptions, stream path (browsers, files up to 4 MiB)"
MINTS = "One million mints"
LISTINGS = "One million listing pages (25 links a page)"


def test_the_unit_price_table_is_read() -> None:
    table = prices()
    assert table["apigw-request"][0].price == Fraction(35, 10**7)
    assert [tier.price for tier in table["transfer"]] == [
        Fraction(9, 100) / 1,
        Fraction(85, 1000),
        Fraction(7, 100),
    ]
    assert table["transfer"][0].size == 10 * 1024  # 10 TB: 10,240 GiB


def test_every_line_table_is_checked() -> None:
    assert [s.heading for s in sections()] == [REDIRECT, STREAM, MINTS, LISTINGS]


@pytest.mark.parametrize("heading", [REDIRECT, STREAM, MINTS, LISTINGS])
def test_every_line_and_total_recomputes_from_the_unit_prices(heading: str) -> None:
    costs = section(heading)
    assert costs  # and every row matched on the way


def test_a_million_mebibytes_is_976_gibibytes() -> None:
    """The issue's example: 1,000,000 x 1 MiB = 976.5625 GiB, not 1,024."""
    costs = section(REDIRECT)
    transfer = [
        row
        for s in sections()
        if s.heading == REDIRECT
        for row in s.rows
        if row[1] == "data transfer, 1 MiB file"
    ]
    assert [row[4] for row in transfer] == ["976.5625 GiB"]
    assert costs[transfer[0][0]][1] == Decimal("87.89")


def prose_percent(pattern: str, text: str) -> list[Decimal]:
    found = re.findall(pattern, text)
    assert found, pattern
    return [Decimal(p) for p in (found[0] if isinstance(found[0], tuple) else (found[0],))]


def share(part: Fraction, whole: Fraction, places: int) -> Decimal:
    exact = Decimal(part.numerator * whole.denominator * 100) / Decimal(
        part.denominator * whole.numerator
    )
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def test_the_share_of_the_bytes_in_the_prose() -> None:
    redirect = section(REDIRECT)
    small, large = prose_percent(r"the bytes are ([\d.]+)% and ([\d.]+)% of the bill", COSTS)
    assert small == share(redirect["R8"][0], redirect["T2"][0], 0)
    assert large == share(redirect["R9"][0], redirect["T3"][0], 2)
    (summary,) = prose_percent(r"data transfer is ([\d.]+)% of a million 1 MiB redirects", COSTS)
    assert summary == small


def test_the_prose_quotes_the_redirect_total() -> None:
    redirect = section(REDIRECT)
    total, dynamodb = redirect["T1"][1], redirect["R5"][1]
    quoted = re.findall(r"\$[\d.]+ of the \$([\d.]+) per million redirects", COSTS)
    assert quoted == [str(total)]
    (minus,) = re.findall(r"100 \u00d7 \(\$([\d.]+) \u2212 \$([\d.]+)\)", COSTS)
    assert (Decimal(minus[0]), Decimal(minus[1])) == (total, dynamodb)


def test_the_prose_quotes_the_totals() -> None:
    redirect, stream = section(REDIRECT), section(STREAM)
    quoted = re.findall(
        r"a million redirects cost \*\*\$([\d,.]+)\*\* for a 1 MiB file and "
        r"\*\*\$([\d,.]+)\*\* for a 100 MiB file",
        COSTS.replace("\n", " "),
    )
    assert quoted == [(f"{redirect['T2'][1]:,}", f"{redirect['T3'][1]:,}")]
    browser = re.findall(r"two requests [^$]*\*\*\$([\d,.]+)\*\* per\s+million", COSTS)
    assert browser == [str(stream["T3"][1])]
    visit = re.findall(r"adds one more\s+visit \(\$([\d.]+) per million", COSTS)
    assert visit == [str(stream["T2"][1])]


def summary_costs() -> dict[str, tuple[str, ...]]:
    found = [rows for heading, rows in tables(COSTS) if heading == "What it costs, in short"]
    assert len(found) == 1, "COSTS.md has one summary table"
    header, *rows = found[0]
    assert header == (
        "",
        "HTTP API (default)",
        "REST API (`FRONT=rest`)",
        "HTTP API, with a 1 MiB file's transfer",
    )
    return {row[0]: row[1:] for row in rows}


def test_the_summary_quotes_the_totals() -> None:
    """Both front doors (issue 24): every cell is a total of the sections below."""
    redirect, stream, mints = section(REDIRECT), section(STREAM), section(MINTS)

    def cell(costs: dict[str, tuple[Fraction, Decimal]], row: str, sign: str = "") -> str:
        return f"{sign}${costs[row][1]:,}"

    assert summary_costs() == {
        "redemptions, redirect": (
            cell(redirect, "T1"),
            cell(redirect, "T4"),
            cell(redirect, "T2"),
        ),
        "redemptions, stream": (cell(stream, "T1"), cell(stream, "T5"), "—"),
        "landing page (a visit)": (cell(stream, "T2"), cell(stream, "T6"), "—"),
        "redemptions in a browser (landing page, then stream)": (
            cell(stream, "T4"),
            cell(stream, "T7"),
            cell(stream, "T3"),
        ),
        "mints": (cell(mints, "T1"), cell(mints, "T5"), "—"),
        "mints with the link emailed": (cell(mints, "T3"), cell(mints, "T6"), "—"),
        "notifications (webhooks on, or a receipt asked for), per redemption": (
            cell(redirect, "T5", "+"),
            cell(redirect, "T5", "+"),
            "—",
        ),
    }


GOAL = Decimal("4.00")  # issue 24: per million redirect redemptions, default front


def line(heading: str, ident: str) -> tuple[str, ...]:
    """The row ``ident`` of a line table, as written."""
    (found,) = [
        row for s in sections() if s.heading == heading for row in s.rows if row[0] == ident
    ]
    return found


def test_the_default_front_meets_the_redirect_goal() -> None:
    """Issue 24: at most $4 per million redirect redemptions with the default front (the
    HTTP API), in the main total, not in an alternative row."""
    redirect = section(REDIRECT)
    assert line(REDIRECT, "R1")[5] == "`apigw-http-request`"  # the default front's price
    assert redirect["T1"][1] <= GOAL
    prose = re.findall(r"at most \$4 per million redirect redemptions[^.]*: \$(\d+\.\d{2})", COSTS)
    assert prose == [str(redirect["T1"][1])]


@pytest.mark.parametrize(
    ("heading", "ident"),
    [(REDIRECT, "R5"), (STREAM, "R5"), (STREAM, "R11")],
    ids=["redirect", "stream", "landing page"],
)
def test_a_claim_or_a_visit_writes_the_item_alone(heading: str, ident: str) -> None:
    """Issue 23: every index holds keys only, so a claim or a visit of a link under 1 KB
    writes 1 WRU; an index holding a copy of the item would make it 2 (3 when emailed)."""
    assert line(heading, ident)[2] == "1 WRU"


def test_emailed_mints_and_notifications_are_counted() -> None:
    """Issue 24, item 6: the recipient index and the second write of an emailed mint (its
    `by-recipient` entry at the mint and the item rewritten, 2 WRU: $1.25 per million, $2.50
    while the index held a copy of the item), and the notify function per redemption (about
    $0.60)."""
    mints, redirect = section(MINTS), section(REDIRECT)
    assert line(MINTS, "R10")[2] == "2 WRU"
    assert mints["R10"][1] == Decimal("1.25")
    assert Decimal("0.55") <= redirect["T5"][1] <= Decimal("0.75")


def test_a_listing_page_and_when_keys_only_pays() -> None:
    """Issue 23, item 5: a page is one keys-only Query and one consistent BatchGetItem of
    its 25 links; the old ALL projection read them from the index.  The prose says how many
    single-use claims (1 WRU saved each) pay for one page's extra reads."""
    listings, redirect = section(LISTINGS), section(REDIRECT)
    assert line(LISTINGS, "R2")[2] == "25 RRU"  # one per link under 4 KB, rounded up each
    extra = listings["T1"][0] - listings["T2"][0]
    (claims,) = re.findall(
        r"the extra reads of one page cost as much as ([\d.]+) single-use", COSTS
    )
    assert Decimal(claims) == share(extra, redirect["R5"][0] * 100, 1)


def test_a_wrong_number_fails() -> None:
    """The check itself: one cent off anywhere in a line is caught."""
    (redirect,) = [s for s in sections() if s.heading == REDIRECT]
    for index, row in enumerate(redirect.rows):
        cost = dollars(row[6]) + Decimal("0.01")
        bold = "**" if row[6].startswith("**") else ""
        edited = [*redirect.rows]
        edited[index] = (*row[:6], f"{bold}${cost}{bold}")
        with pytest.raises(AssertionError, match="recomputed"):
            recompute(Section(redirect.heading, edited))
