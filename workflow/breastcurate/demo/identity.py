"""Realistic fake protected health information for demo patients.

Every value is invented. They are deliberately varied (accents, nested sequences, free text, private tags)
so that de-identification and the PHI scan are exercised for real.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

GIVEN = [
    "Maria",
    "Jennifer",
    "Aisha",
    "Linh",
    "Sofía",
    "Greta",
    "Hannah",
    "Keisha",
    "Priya",
    "Olga",
    "Renée",
    "Chloé",
    "Yuki",
    "Fatima",
    "Ingrid",
    "Beatriz",
    "Dorothy",
    "Thao",
    "Ngozi",
    "Eleanor",
]
FAMILY = [
    "Okonkwo",
    "Nguyen",
    "Müller",
    "Ramírez",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Whitfield",
    "Tran",
    "Fitzgerald",
    "Castellanos",
    "Abernathy",
    "Lindqvist",
    "Delacroix",
    "Oyelaran",
    "Brennan",
]
PHYSICIANS = ["Harrow^Lucas^^Dr", "Vance^Miriam^^Dr", "Okafor^Chidi^^Dr", "Sandoval^Elena^^Dr", "Pryce^Gideon^^Dr"]
INSTITUTIONS = [
    ("Mercy Ridge General Hospital", "4100 Harborview Road, Springfield, IL 62704"),
    ("St. Adelaide Breast Center", "77 Magnolia Avenue, Savannah, GA 31401"),
    ("Lakeshore University Medical Center", "1250 Lakeshore Drive, Cleveland, OH 44114"),
    ("Bệnh viện Đa khoa Hòa Bình", "12 Nguyễn Trãi, Hà Nội"),
    ("Northfield Imaging Associates", "905 Quarry Lane, Northfield, MN 55057"),
]
STREETS = ["Elm Street", "Birchwood Court", "Sycamore Lane", "Old Mill Road", "Cypress Avenue", "Juniper Way"]
CITIES = ["Decatur, GA 30030", "Marietta, GA 30060", "Durham, NC 27701", "Akron, OH 44308", "Peoria, IL 61602"]


@dataclass(frozen=True)
class Identity:
    """One demo person's fake identity."""

    given: str
    family: str
    birth_date: dt.date
    mrn: str
    other_id: str
    address: str
    phone: str
    institution: str
    institution_address: str
    referring: str
    performing: str
    operator: str
    first_study: dt.date

    @property
    def dicom_name(self) -> str:
        return f"{self.family.upper()}^{self.given.upper()}"

    def age_at(self, when: dt.date) -> int:
        years = when.year - self.birth_date.year
        if (when.month, when.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    def dicom_age(self, when: dt.date) -> str:
        return f"{self.age_at(when):03d}Y"


def make_identity(rng: np.random.Generator) -> Identity:
    """Draw a fake identity from `rng`."""
    inst, inst_addr = INSTITUTIONS[rng.integers(len(INSTITUTIONS))]
    first_study = dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
    age_days = int(rng.integers(38 * 365, 76 * 365))
    return Identity(
        given=str(rng.choice(GIVEN)),
        family=str(rng.choice(FAMILY)),
        birth_date=first_study - dt.timedelta(days=age_days),
        mrn=f"MRN{int(rng.integers(10**7, 10**8))}",
        other_id=f"EID-{int(rng.integers(10**5, 10**6))}-{int(rng.integers(10, 99))}",
        address=f"{int(rng.integers(10, 9999))} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
        phone=f"({int(rng.integers(201, 989))}) 555-{int(rng.integers(1000, 9999))}",
        institution=inst,
        institution_address=inst_addr,
        referring=str(rng.choice(PHYSICIANS)),
        performing=str(rng.choice(PHYSICIANS)),
        operator=f"{rng.choice(FAMILY).upper()}^{rng.choice(GIVEN)[0]}",
        first_study=first_study,
    )


def accession(rng: np.random.Generator) -> str:
    """A fake accession number."""
    return f"ACC{int(rng.integers(10**8, 10**9))}"


def rng_for(seed: int, dataset: str, index: int) -> np.random.Generator:
    """Generator for patient `index` of `dataset`: depends only on the seed, the dataset and the index."""
    salt = int.from_bytes(dataset.encode()[:8].ljust(8, b"\0"), "big")
    return np.random.default_rng(np.random.SeedSequence([seed, salt, index]))
