"""Account hierarchies, firmographics and CRM statuses for one chunk.

A chunk is a fixed number of accounts made of whole trees: hierarchies never
cross chunks, so chunks can be generated independently. Within a chunk the
nodes are laid out tree by tree, parents before children.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sikta.synth import catalog as cat
from sikta.synth._util import date_array, float_array, gumbel_choice, id_strings, int_array, take_strings

GROUP, COMPANY, DEPARTMENT = 0, 1, 2
CUSTOMER, PROSPECT, FORMER = 0, 1, 2
STATUS_NAMES = ("customer", "prospect", "former")
TYPE_NAMES = ("group", "company", "department")
#: shares of all accounts the CRM labels prospect / former
PROSPECT_SHARE, FORMER_SHARE = 0.30, 0.12


@dataclass
class Accounts:
    """One chunk of accounts as numpy arrays (index = position in the chunk)."""

    n: int
    ids: pa.Array
    parent: np.ndarray  # chunk index of the parent, -1 for roots
    depth: np.ndarray
    kind: np.ndarray  # GROUP / COMPANY / DEPARTMENT
    tree: np.ndarray  # chunk index of the root
    industry: np.ndarray
    country: np.ndarray
    employees: np.ndarray
    annual_revenue: np.ndarray  # nan for departments
    sites: np.ndarray
    legal: np.ndarray  # index into LEGAL_FORMS, -1 for departments
    founded: np.ndarray  # -1 for departments
    tech: np.ndarray
    channel: np.ndarray
    owner: np.ndarray  # rep number 1..40
    dept: np.ndarray  # index into DEPARTMENTS for departments, else -1
    name: pa.Array
    slug: pa.Array  # e-mail domain stem
    status: np.ndarray
    first_seen: np.ndarray | None = None  # epoch day, set by the planner

    @property
    def region(self) -> np.ndarray:
        return cat.COUNTRY_REGION[self.country]


def build_hierarchy(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A forest of exactly ``n`` nodes: (parent, depth, kind, tree).

    60 % of roots are single companies, 40 % groups with 2-10 subsidiaries;
    some subsidiaries own companies again and any company may have 1-4
    departments, so trees reach 3 levels below the root.
    """
    roots = n // 3 + 8  # over-generate; unused trees are dropped
    is_group = rng.random(roots) < 0.40
    n1 = np.where(is_group, 2 + np.minimum(rng.geometric(0.35, roots) - 1, 8), 0)
    p1 = np.repeat(np.arange(roots), n1)
    k1 = len(p1)
    n2 = np.where(rng.random(k1) < 0.12, rng.integers(1, 4, k1), 0)
    p2 = np.repeat(roots + np.arange(k1), n2)
    k2 = len(p2)
    companies = np.concatenate([np.flatnonzero(~is_group), roots + np.arange(k1 + k2)])
    nd = np.where(rng.random(len(companies)) < 0.12, rng.integers(1, 5, len(companies)), 0)
    p3 = np.repeat(companies, nd)

    parent = np.concatenate([np.full(roots, -1), p1, p2, p3])
    kind = np.concatenate(
        [np.where(is_group, GROUP, COMPANY), np.full(k1 + k2, COMPANY), np.full(len(p3), DEPARTMENT)]
    )
    depth = np.zeros(len(parent), dtype=np.int64)
    depth[roots : roots + k1] = 1
    depth[roots + k1 : roots + k1 + k2] = 2
    depth[roots + k1 + k2 :] = depth[p3] + 1
    tree = np.arange(len(parent))
    tree[roots:] = parent[roots:]
    tree[roots + k1 :] = tree[tree[roots + k1 :]]  # depth-2 companies and departments
    tree[roots + k1 + k2 :] = tree[tree[roots + k1 + k2 :]]  # departments under depth-2 companies

    size = np.bincount(tree, minlength=roots)[:roots]
    fits = int(np.searchsorted(np.cumsum(size), n, side="right"))
    keep = tree < fits
    fill = n - int(size[:fits].sum())
    old = np.flatnonzero(keep)
    order = old[np.argsort(tree[old], kind="stable")]
    new_pos = np.full(len(parent), -1)
    new_pos[order] = np.arange(len(order))
    par = parent[order]
    par = np.where(par >= 0, new_pos[np.maximum(par, 0)], -1)
    # single companies fill what is left, so every chunk has exactly n accounts
    k = len(order)
    parent_out = np.concatenate([par, np.full(fill, -1)])
    depth_out = np.concatenate([depth[order], np.zeros(fill, dtype=np.int64)])
    kind_out = np.concatenate([kind[order], np.full(fill, COMPANY)])
    tree_out = np.concatenate([new_pos[tree[order]], k + np.arange(fill)])
    return parent_out, depth_out, kind_out, tree_out


def build_accounts(rng: np.random.Generator, n: int, first_number: int, width: int, end_year: int) -> Accounts:
    """Hierarchy, firmographics, names and CRM status of ``n`` accounts.

    ``first_number`` is the number of the first id (``A`` + ``width`` digits).
    """
    parent, depth, kind, tree = build_hierarchy(rng, n)
    is_comp, is_group, is_dept = kind == COMPANY, kind == GROUP, kind == DEPARTMENT
    pidx = np.maximum(parent, 0)
    levels = [depth == d for d in (1, 2, 3)]

    def inherit(values: np.ndarray, p_comp: tuple[float, float]) -> np.ndarray:
        """Children copy their parent's value (departments always, companies with a probability)."""
        for d, m in enumerate(levels, start=1):
            p = np.where(is_dept, 1.0, p_comp[0] if d == 1 else p_comp[1])
            take = m & (rng.random(n) < p)
            values[take] = values[pidx[take]]
        return values

    industry = inherit(rng.choice(len(cat.INDUSTRIES), n, p=cat.INDUSTRY_WEIGHTS), (0.75, 0.85))
    country = inherit(rng.choice(len(cat.COUNTRIES), n, p=cat.COUNTRY_WEIGHTS), (0.65, 0.9))

    # sizes: companies first, groups sum their subsidiaries, departments are parts of companies
    median = np.where(depth == 0, 30.0, np.where(depth == 1, 110.0, 60.0))
    sigma = np.where(depth == 0, 1.6, np.where(depth == 1, 1.5, 1.3))
    emp = np.clip(np.round(median * np.exp(rng.normal(0, 1, n) * sigma)), 1, 100_000)
    sub = is_comp & (depth == 1)
    emp_g = np.bincount(pidx[sub], weights=emp[sub], minlength=n) + np.round(15 * np.exp(rng.normal(0, 1, n)))
    emp = np.where(is_group, np.minimum(emp_g, 100_000), emp)
    emp = np.where(is_dept, np.maximum(1, np.round(emp[pidx] * rng.beta(2, 6, n))), emp).astype(np.int64)

    rpe = cat.REVENUE_PER_EMPLOYEE[industry] * np.exp(rng.normal(0, 0.35, n))
    rev = np.round(emp * rpe, -3)
    rev_g = np.bincount(pidx[sub], weights=rev[sub], minlength=n) + 15 * rpe
    rev = np.where(is_group, np.round(rev_g, -3), rev)
    rev = np.where(is_dept, np.nan, np.maximum(rev, 10_000.0))

    sites = 1 + rng.poisson(0.7 * (emp / 40.0) ** 0.6)
    sites_g = np.bincount(pidx[sub], weights=sites[sub], minlength=n).astype(np.int64)
    sites = np.where(is_group, np.maximum(sites_g, 1), np.where(is_dept, 1, sites)).astype(np.int64)

    log_emp = np.log10(np.maximum(emp, 1))
    p_large = np.where(is_group, 0.7, np.clip((log_emp - 2.0) / 2.5, 0, 0.8))
    u = rng.random(n)
    variant = np.where(u < p_large, 1, np.where(u < p_large + 0.05, 2, 0))
    legal = np.where(is_dept, -1, 3 * country + variant)

    age = np.clip(np.round(np.exp(rng.normal(np.log(20), 0.75, n)) + 4 * log_emp), 1, 170).astype(np.int64)
    founded = np.where(is_dept, -1, end_year - age)

    tech = np.clip(np.round(cat.TECH_BASE[industry] + 0.3 * (age < 15) + rng.normal(0, 0.85, n)), 1, 5)
    tech = inherit(tech.astype(np.int64), (0.5, 0.6))
    dept_tech = is_dept & (rng.random(n) < 0.3)  # departments differ a little from their company
    tech = np.where(dept_tech, np.clip(tech + rng.choice([-1, 1], n), 1, 5), tech)

    region = cat.COUNTRY_REGION[country]
    size = np.log10(np.maximum(emp, 1) / 50.0)
    logits = np.stack(
        [
            0.9 * (tech - 3) - 0.35 * size,
            -0.5 * (tech - 3) - 0.2 * size + 0.1,
            0.9 * size - 0.3,
            -0.6 + 0.5 * np.isin(region, (5, 6, 7)),
        ],
        axis=1,
    )
    channel = gumbel_choice(rng, 1.3 * logits)

    rep_start = np.concatenate([[0], np.cumsum(cat.REPS_PER_REGION)[:-1]])
    owner = 1 + rep_start[region] + np.floor(rng.random(n) * cat.REPS_PER_REGION[region]).astype(np.int64)
    for d, m in enumerate(levels, start=1):  # key accounts keep one owner across the group
        take = m & (rng.random(n) < (0.9 if d > 1 else 0.8))
        owner[take] = owner[pidx[take]]

    # departments of one parent are contiguous: give them distinct department names
    dept = np.full(n, -1)
    di = np.flatnonzero(is_dept)
    if len(di):
        p = parent[di]
        starts = np.r_[True, p[1:] != p[:-1]]
        run = np.cumsum(starts) - 1
        rank = np.arange(len(di)) - np.flatnonzero(starts)[run]
        dept[di] = (rank + rng.integers(0, 10, int(starts.sum()))[run]) % 10

    ids = id_strings("A", first_number + np.arange(n), width)
    name, slug = _names(rng, n, parent, depth, kind, tree, industry, country, legal, dept)
    status = _status(rng, kind, tree)
    return Accounts(
        n=n,
        ids=ids,
        parent=parent,
        depth=depth,
        kind=kind,
        tree=tree,
        industry=industry,
        country=country,
        employees=emp,
        annual_revenue=rev,
        sites=sites,
        legal=legal,
        founded=founded,
        tech=tech,
        channel=channel,
        owner=owner,
        dept=dept,
        name=name,
        slug=slug,
        status=status,
    )


def _names(rng, n, parent, depth, kind, tree, industry, country, legal, dept) -> tuple[pa.Array, pa.Array]:
    """Company names from syllables; subsidiaries carry the group's stem."""
    s1 = take_strings(cat.SYLLABLES_1, rng.integers(0, len(cat.SYLLABLES_1), n))
    sm = take_strings(cat.SYLLABLES_MID, rng.integers(0, len(cat.SYLLABLES_MID), n))
    s2 = take_strings(cat.SYLLABLES_2, rng.integers(0, len(cat.SYLLABLES_2), n))
    stem = pc.binary_join_element_wise(s1, sm, s2, "").take(pa.array(tree))
    per = len(cat.NAME_WORDS[0])
    flat = [w for words in cat.NAME_WORDS for w in words]
    # siblings of a group take different words where they can
    widx = (np.arange(n) - tree + rng.integers(0, per, n)[tree]) % per
    word = take_strings(flat, industry * per + np.where(depth == 0, rng.integers(0, per, n), widx))
    country_name = take_strings(cat.COUNTRY_NAMES, country)
    foreign = (depth == 1) & (country != country[tree])
    second = pc.if_else(pa.array(foreign), country_name, word)
    label = pc.if_else(
        pa.array(kind == GROUP),
        pc.binary_join_element_wise(stem, "Group", " "),
        pc.binary_join_element_wise(stem, second, " "),
    )
    legal_s = take_strings(cat.LEGAL_FORMS, np.maximum(legal, 0))
    company = pc.binary_join_element_wise(label, legal_s, " ")
    pidx = pa.array(np.maximum(parent, 0))
    dept_s = take_strings(cat.DEPARTMENTS, np.maximum(dept, 0))
    dept_name = pc.binary_join_element_wise(company.take(pidx), dept_s, " \u2013 ")
    is_dept = pa.array(kind == DEPARTMENT)
    name = pc.if_else(is_dept, dept_name, company)
    base = pc.if_else(is_dept, label.take(pidx), label)
    slug = pc.utf8_trim(pc.replace_substring_regex(pc.utf8_lower(base), "[^a-z0-9]+", "-"), "-")
    return name, slug


def _status(rng: np.random.Generator, kind: np.ndarray, tree: np.ndarray) -> np.ndarray:
    """CRM status; accounts of one tree tend to share it, groups roll up."""
    n = len(kind)
    is_group = kind == GROUP
    g = is_group.mean() if n else 0.0
    # groups are almost never pure prospects, so the rest carries the prospect share
    p_pros = min(0.6, (PROSPECT_SHARE - 0.03 * g) / max(1e-9, 1 - g))
    p_form = min(0.3, FORMER_SHARE / max(1e-9, 1 - 0.5 * g))
    probs = np.array([1 - p_pros - p_form, p_pros, p_form])
    own = rng.choice(3, n, p=probs)
    tendency = rng.choice(3, n, p=probs)[tree]
    status = np.where(rng.random(n) < 0.6, tendency, own)
    member = ~is_group
    any_c = np.bincount(tree[member], weights=(status[member] == CUSTOMER), minlength=n) > 0
    any_f = np.bincount(tree[member], weights=(status[member] == FORMER), minlength=n) > 0
    rolled = np.where(any_c[tree], CUSTOMER, np.where(any_f[tree], FORMER, PROSPECT))
    return np.where(is_group, rolled, status)


def accounts_table(acc: Accounts) -> pa.Table:
    """The ``accounts`` contract table of a chunk (after the planner set ``first_seen``)."""
    is_dept = acc.kind == DEPARTMENT
    return pa.table(
        {
            "account_id": acc.ids,
            "name": acc.name,
            "parent_account_id": acc.ids.take(pa.array(np.maximum(acc.parent, 0), mask=acc.parent < 0)),
            "account_type": take_strings(TYPE_NAMES, acc.kind),
            "status": take_strings(STATUS_NAMES, acc.status),
            "industry": take_strings(cat.INDUSTRIES, acc.industry),
            "employees": int_array(acc.employees),
            "annual_revenue": float_array(np.nan_to_num(acc.annual_revenue), mask=is_dept),
            "country": take_strings(cat.COUNTRY_NAMES, acc.country),
            "region": take_strings(cat.REGIONS, acc.region),
            "sites": int_array(acc.sites),
            "legal_form": take_strings(cat.LEGAL_FORMS, np.maximum(acc.legal, 0), mask=acc.legal < 0),
            "founded_year": int_array(acc.founded, mask=acc.founded < 0),
            "first_seen": date_array(acc.first_seen),
            "tech_maturity": int_array(acc.tech),
            "channel_preference": take_strings(cat.CHANNELS_PREF, acc.channel),
            "owner": id_strings("rep_", acc.owner, 3),
            # an 18-character Salesforce-style Account Id and a web domain, for the CRM exports
            "crm_id": pc.binary_join_element_wise("001Sk", pc.utf8_lpad(pc.utf8_slice_codeunits(acc.ids, 1), 13, "0"), ""),
            "domain": pc.binary_join_element_wise(
                pc.utf8_trim(pc.replace_substring_regex(pc.utf8_lower(acc.name), "[^a-z0-9]+", "-"), "-"), ".example", ""),
        }
    )
