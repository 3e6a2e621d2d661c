"""Reference data of the synthetic world: industries, countries, product
lines with their industry affinities, needs profiles and name pools.

The numbers are chosen so that the patterns a segmentation should find
(whitespace per industry, needs clusters, behavioral types) are clearly
present yet noisy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sikta.synth._util import S_PRODUCTS, float_array, id_strings, rng_for, take_strings

# --- industries -----------------------------------------------------------

INDUSTRIES = (
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Financial Services",
    "Software & IT",
    "Construction",
    "Logistics & Transport",
    "Energy & Utilities",
    "Professional Services",
    "Public Sector",
)
INDUSTRY_WEIGHTS = np.array([0.17, 0.12, 0.09, 0.08, 0.11, 0.10, 0.09, 0.06, 0.12, 0.06])
#: median turnover per employee (EUR)
REVENUE_PER_EMPLOYEE = np.array([210e3, 260e3, 120e3, 340e3, 180e3, 190e3, 230e3, 420e3, 140e3, 95e3])
#: mean tech maturity before noise
TECH_BASE = np.array([2.7, 3.0, 2.8, 3.6, 4.2, 2.0, 2.6, 2.7, 3.3, 2.3])
NAME_WORDS = (
    ("Industries", "Manufacturing", "Components", "Machines", "Werke"),
    ("Retail", "Stores", "Trading", "Market", "Outlet"),
    ("Health", "Medical", "Care", "Clinics", "Pharma"),
    ("Capital", "Finance", "Bank", "Insurance", "Invest"),
    ("Systems", "Software", "Digital", "Labs", "Tech"),
    ("Construction", "Bygg", "Bau", "Builders", "Structures"),
    ("Logistics", "Transport", "Freight", "Shipping", "Cargo"),
    ("Energy", "Power", "Utilities", "Grid", "Solar"),
    ("Consulting", "Partners", "Advisory", "Associates", "Legal"),
    ("Agency", "Services", "Authority", "Institute", "Foundation"),
)

# --- geography ------------------------------------------------------------

REGIONS = ("Nordics", "DACH", "Benelux", "UK&I", "France", "Southern Europe", "CEE", "North America")
#: sales reps per region; owners are rep_001 ... rep_040
REPS_PER_REGION = np.array([8, 9, 4, 5, 3, 4, 3, 4])
#: country, region index, weight, (common, large-company, rare) legal forms
COUNTRIES = (
    ("Sweden", 0, 0.09, ("AB", "AB (publ)", "HB")),
    ("Norway", 0, 0.04, ("AS", "ASA", "ANS")),
    ("Denmark", 0, 0.04, ("ApS", "A/S", "I/S")),
    ("Finland", 0, 0.03, ("Oy", "Oyj", "Ky")),
    ("Germany", 1, 0.16, ("GmbH", "AG", "GmbH & Co. KG")),
    ("Austria", 1, 0.03, ("GmbH", "AG", "KG")),
    ("Switzerland", 1, 0.04, ("GmbH", "AG", "Sarl")),
    ("Netherlands", 2, 0.06, ("B.V.", "N.V.", "V.O.F.")),
    ("Belgium", 2, 0.03, ("BV", "NV", "SRL")),
    ("United Kingdom", 3, 0.12, ("Ltd", "PLC", "LLP")),
    ("Ireland", 3, 0.02, ("Ltd", "PLC", "DAC")),
    ("France", 4, 0.07, ("SARL", "SA", "SAS")),
    ("Spain", 5, 0.05, ("S.L.", "S.A.", "S.C.")),
    ("Italy", 5, 0.05, ("S.r.l.", "S.p.A.", "S.n.c.")),
    ("Portugal", 5, 0.01, ("Lda.", "S.A.", "Unipessoal Lda.")),
    ("Poland", 6, 0.05, ("sp. z o.o.", "S.A.", "sp.k.")),
    ("Czechia", 6, 0.02, ("s.r.o.", "a.s.", "v.o.s.")),
    ("United States", 7, 0.08, ("LLC", "Inc.", "Corp.")),
    ("Canada", 7, 0.02, ("Ltd.", "Inc.", "Corp.")),
)
COUNTRY_NAMES = tuple(c[0] for c in COUNTRIES)
COUNTRY_REGION = np.array([c[1] for c in COUNTRIES])
COUNTRY_WEIGHTS = np.array([c[2] for c in COUNTRIES]) / sum(c[2] for c in COUNTRIES)
#: legal forms flattened: country c, variant v -> index 3 * c + v
LEGAL_FORMS = tuple(f for c in COUNTRIES for f in c[3])
CHANNELS_PREF = ("digital", "phone", "field", "partner")

# --- products ---------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    code: str
    name: str
    suite: str
    subscription: bool
    n_products: int
    median_price: float  # per unit, or per seat and month for subscriptions
    cost_ratio: float  # cost / list price, before the premium discount
    median_qty: float  # order quantity per line for a 50-employee firm; seats share for subscriptions


LINES = (
    Line("PLT", "Core Platform", "Cloud Suite", True, 24, 42.0, 0.25, 0.30),
    Line("ANL", "Analytics", "Cloud Suite", True, 20, 28.0, 0.30, 0.10),
    Line("SEC", "Security", "Cloud Suite", True, 22, 16.0, 0.30, 0.50),
    Line("HW", "Hardware", "Equipment", False, 48, 1600.0, 0.74, 2.0),
    Line("CON", "Consumables", "Equipment", False, 60, 24.0, 0.56, 40.0),
    Line("SPR", "Spare Parts", "Equipment", False, 55, 140.0, 0.46, 4.0),
    Line("SVC", "Professional Services", "Services", False, 30, 145.0, 0.62, 12.0),
    Line("TRN", "Training", "Services", False, 26, 420.0, 0.40, 3.0),
)
LINE_NAMES = tuple(line.name for line in LINES)
SUB_LINES = np.array([i for i, line in enumerate(LINES) if line.subscription])
ORDER_LINES = np.array([i for i, line in enumerate(LINES) if not line.subscription])

#: adoption probability of a buying account, industry x line (whitespace lives here)
AFFINITY = np.array(
    [
        # PLT   ANL   SEC   HW    CON   SPR   SVC   TRN
        [0.30, 0.18, 0.12, 0.70, 0.75, 0.80, 0.30, 0.25],  # Manufacturing
        [0.40, 0.55, 0.15, 0.55, 0.80, 0.08, 0.12, 0.15],  # Retail
        [0.35, 0.20, 0.60, 0.40, 0.75, 0.15, 0.30, 0.45],  # Healthcare
        [0.70, 0.65, 0.80, 0.12, 0.08, 0.04, 0.45, 0.30],  # Financial Services
        [0.80, 0.60, 0.55, 0.20, 0.08, 0.04, 0.25, 0.20],  # Software & IT
        [0.12, 0.05, 0.05, 0.65, 0.55, 0.72, 0.35, 0.15],  # Construction
        [0.40, 0.40, 0.12, 0.55, 0.45, 0.60, 0.18, 0.15],  # Logistics & Transport
        [0.25, 0.45, 0.50, 0.50, 0.25, 0.65, 0.45, 0.30],  # Energy & Utilities
        [0.60, 0.35, 0.30, 0.10, 0.25, 0.04, 0.20, 0.45],  # Professional Services
        [0.20, 0.12, 0.55, 0.30, 0.50, 0.12, 0.40, 0.60],  # Public Sector
    ]
)

#: usage features per subscription line
FEATURES = {
    0: ("dashboards", "workflows", "reports"),
    1: ("queries", "exports"),
    2: ("sso", "audit_log"),
}
#: weekly events per active user, by feature
FEATURE_EVENTS = {
    "dashboards": 14.0,
    "workflows": 9.0,
    "reports": 4.0,
    "queries": 11.0,
    "exports": 2.5,
    "sso": 6.0,
    "audit_log": 1.5,
}

# --- latent types -----------------------------------------------------------

NEEDS_ITEMS = ("need_price", "need_quality", "need_support", "need_integration", "need_speed", "need_innovation")
NEEDS_SEGMENTS = ("cost_focused", "quality_first", "service_seekers", "digital_innovators", "fast_movers")
#: mean importance (1-5) of each need item, per needs segment
NEEDS_PROFILES = np.array(
    [
        [4.7, 2.8, 2.2, 2.0, 3.0, 1.6],
        [2.0, 4.8, 3.2, 3.0, 2.6, 3.0],
        [2.8, 3.2, 4.8, 2.4, 3.8, 2.0],
        [2.2, 3.4, 2.0, 4.7, 3.6, 4.8],
        [3.2, 2.6, 2.6, 3.2, 4.8, 2.8],
    ]
)
BEHAVIOR_TYPES = ("price_driven", "quality_driven", "support_driven", "routine")
#: behavior type most likely for each needs segment
SEGMENT_BEHAVIOR = np.array([0, 1, 2, 1, 3])
TRENDS = ("growth", "flat", "decline", "none")

# --- people -----------------------------------------------------------------

SYLLABLES_1 = (
    "Nor", "Vel", "Kal", "Bri", "Sol", "Mar", "Ast", "Lin", "Ber", "Hal",
    "Tor", "Vik", "Ald", "Cor", "Dan", "Eri", "Fal", "Gran", "Hel", "Ing",
    "Jar", "Kor", "Lum", "Mer", "Nov", "Ost", "Pal", "Quin", "Ros", "Sand",
    "Tal", "Ul", "Var", "Wes", "Zel", "Arc", "Bel", "Cas", "Dor", "Elm",
)  # fmt: skip
SYLLABLES_MID = ("", "", "", "", "a", "e", "i", "o", "an", "el", "er", "in")
SYLLABLES_2 = (
    "vik", "dal", "tek", "berg", "ia", "ton", "mar", "gard", "lund", "ex",
    "ion", "stad", "ora", "um", "ford", "holm", "ix", "ano", "ent", "wick",
    "sen", "ara", "is", "ven", "tra", "on", "ius", "ra", "co", "nova",
)  # fmt: skip
DEPARTMENTS = (
    "Finance", "IT", "Operations", "Procurement", "Sales", "Marketing",
    "HR", "R&D", "Logistics", "Customer Service", "Management",
)  # fmt: skip
ROLES = (
    ("CFO", "Controller", "Finance Manager"),
    ("CIO", "IT Manager", "IT Architect"),
    ("COO", "Operations Manager", "Plant Manager"),
    ("Head of Procurement", "Buyer", "Category Manager"),
    ("Head of Sales", "Sales Manager", "Key Account Manager"),
    ("CMO", "Marketing Manager", "Campaign Manager"),
    ("HR Director", "HR Manager", "HR Business Partner"),
    ("Head of R&D", "Engineer", "Product Manager"),
    ("Head of Logistics", "Logistics Manager", "Warehouse Manager"),
    ("Head of Customer Service", "Service Manager", "Team Lead"),
    ("CEO", "Managing Director", "Owner"),
)
FIRST_NAMES = (
    "Anna", "Erik", "Lars", "Maria", "Johan", "Sofia", "Thomas", "Julia", "Lukas", "Emma",
    "Jan", "Piotr", "Katarzyna", "Marco", "Giulia", "Pablo", "Lucia", "Pierre", "Camille", "James",
    "Olivia", "Liam", "Noah", "Sarah", "David", "Laura", "Michael", "Elena", "Stefan", "Karin",
    "Mikael", "Ingrid", "Henrik", "Astrid", "Felix", "Hannah", "Jonas", "Lea", "Tomasz", "Agnieszka",
    "Sven", "Nora", "Oskar", "Freja", "Mats", "Eva", "Paul", "Claire", "Daniel", "Sophie",
)  # fmt: skip
LAST_NAMES = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Berg", "Lindqvist", "Muller", "Schmidt", "Schneider",
    "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Kowalski", "Nowak", "Wisniewski", "Rossi", "Russo",
    "Garcia", "Martinez", "Lopez", "Dubois", "Martin", "Bernard", "Smith", "Jones", "Taylor", "Brown",
    "Wilson", "Jansen", "de Vries", "Peeters", "Hansen", "Jensen", "Nielsen", "Virtanen", "Korhonen",
    "Murphy", "Kelly", "Novak", "Svoboda", "Silva", "Santos", "Ferrari", "Moreau", "Laurent", "Olsen",
    "Lund", "Dahl",
)  # fmt: skip


def build_products(seed: int) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The product catalog and hidden per-product attributes.

    Products of a line are sorted by list price, so "cheap" and "premium"
    are simply low and high positions within a line.

    Returns
    -------
    (table, info)
        ``table`` has the contract columns of ``products``; ``info`` holds
        ``line`` (line index per product), ``price``, ``cost_ratio`` and
        ``start`` / ``count`` (product offset and count per line).
    """
    rng = rng_for(seed, 0, S_PRODUCTS)
    counts = np.array([line.n_products for line in LINES])
    line_of = np.repeat(np.arange(len(LINES)), counts)
    rank = np.concatenate([np.arange(c) for c in counts])  # a loop over 8 lines
    rel = rank / (counts[line_of] - 1)  # 0 = cheapest, 1 = most premium
    median = np.array([line.median_price for line in LINES])[line_of]
    # a spread of ~x10 between the cheapest and most premium product of a line
    noise = np.sort(rng.normal(0.0, 0.08, len(line_of)))  # sorted noise keeps prices monotone
    price = median * np.exp((rel - 0.5) * 2.3 + noise - noise.mean())
    price = np.where(price > 100, np.round(price, -1) - 1, np.round(price, 0) - 0.01)
    price = np.maximum(price, 0.99)
    # premium products carry a better gross margin
    base_cost = np.array([line.cost_ratio for line in LINES])[line_of]
    cost_ratio = np.clip(base_cost * (1.15 - 0.35 * rel) + rng.normal(0, 0.02, len(line_of)), 0.1, 0.92)
    numbers = rank + 1
    ids = pa.concat_arrays(
        [id_strings(f"{LINES[i].code}-", numbers[line_of == i], 4) for i in range(len(LINES))]
    )
    table = pa.table(
        {
            "product_id": ids,
            "product_line": take_strings(LINE_NAMES, line_of),
            "product_suite": take_strings([line.suite for line in LINES], line_of),
            "list_price": float_array(price),
        }
    )
    info = {
        "line": line_of,
        "price": price,
        "cost_ratio": cost_ratio,
        "start": np.concatenate([[0], np.cumsum(counts)[:-1]]),
        "count": counts,
    }
    return table, info
