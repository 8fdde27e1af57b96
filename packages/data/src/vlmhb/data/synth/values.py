"""Ground-truth field values of synthetic documents (Faker ``ru_RU``, seeded).

Every value fits on one line; dates come from a fixed window, never from "today", so the
same seed gives the same values on any day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from faker import Faker

Fields = list[tuple[str, str]]

MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
EARLIEST_BIRTH = dt.date(1950, 1, 1)
LATEST_BIRTH = dt.date(2005, 12, 31)
LATEST_DATE = dt.date(2024, 12, 31)
MAX_CHARS = 28


def passport_fields(fake: Faker) -> Fields:
    """Fields of a Russian internal passport (main page)."""
    male = fake.random.random() < 0.5
    birth = _date(fake, EARLIEST_BIRTH, LATEST_BIRTH)
    issued = _date(
        fake, max(birth + dt.timedelta(days=365 * 14 + 4), dt.date(1997, 10, 1)), LATEST_DATE
    )
    unit = f"{fake.random.randint(100, 999)}-{fake.random.randint(1, 999):03d}"
    return [
        (
            "Серия и номер",
            f"{fake.random.randint(1, 99):02d} {fake.random.randint(0, 99):02d} "
            f"{fake.random.randint(0, 999999):06d}",
        ),
        ("Кем выдан", _short(lambda: f"МВД ПО ГОР. {_city(fake).upper()}")),
        ("Дата выдачи", issued.strftime("%d.%m.%Y")),
        ("Код подразделения", unit),
        ("Фамилия", _short(fake.last_name_male if male else fake.last_name_female).upper()),
        ("Имя", _short(fake.first_name_male if male else fake.first_name_female).upper()),
        ("Отчество", _short(fake.middle_name_male if male else fake.middle_name_female).upper()),
        ("Пол", "МУЖ." if male else "ЖЕН."),
        ("Дата рождения", birth.strftime("%d.%m.%Y")),
        ("Место рождения", _short(lambda: f"ГОР. {_city(fake).upper()}")),
    ]


def invoice_fields(fake: Faker) -> Fields:
    """Header fields of a счёт-фактура; ``Всего к оплате`` includes 20 % VAT."""
    total_kopecks = fake.random.randint(1_000_00, 9_999_999_99)
    vat_kopecks = round(total_kopecks * 20 / 120)
    return [
        ("Номер счёта-фактуры", str(fake.random.randint(1, 9999))),
        ("Дата", _date(fake, dt.date(2015, 1, 1), LATEST_DATE).strftime("%d.%m.%Y")),
        ("Продавец", _short(lambda: _company(fake))),
        ("ИНН продавца", fake.businesses_inn()),
        ("Покупатель", _short(lambda: _company(fake))),
        ("ИНН покупателя", fake.businesses_inn()),
        ("Сумма НДС", _money(vat_kopecks)),
        ("Всего к оплате", _money(total_kopecks)),
    ]


def snils_fields(fake: Faker) -> Fields:
    """Fields of an insurance certificate (СНИЛС), number with a valid check sum."""
    male = fake.random.random() < 0.5
    birth = _date(fake, EARLIEST_BIRTH, LATEST_BIRTH)
    registered = _date(fake, max(birth, dt.date(1996, 4, 1)), LATEST_DATE)
    return [
        ("Номер СНИЛС", snils_number([fake.random.randint(0, 9) for _ in range(9)])),
        ("Фамилия", _short(fake.last_name_male if male else fake.last_name_female)),
        ("Имя", _short(fake.first_name_male if male else fake.first_name_female)),
        ("Отчество", _short(fake.middle_name_male if male else fake.middle_name_female)),
        ("Дата рождения", _long_date(birth)),
        ("Место рождения", _short(lambda: f"гор. {_city(fake)}")),
        ("Пол", "мужской" if male else "женский"),
        ("Дата регистрации", _long_date(registered)),
    ]


FIELD_MAKERS: dict[str, Callable[[Faker], Fields]] = {
    "passport": passport_fields,
    "invoice": invoice_fields,
    "snils": snils_fields,
}


def snils_number(digits: list[int]) -> str:
    """``XXX-XXX-XXX YY`` with the official check sum of the 9 digits."""
    total = sum(d * (9 - i) for i, d in enumerate(digits))
    check = total if total < 100 else (0 if total in (100, 101) else total % 101 % 100)
    text = "".join(map(str, digits))
    return f"{text[:3]}-{text[3:6]}-{text[6:]} {check:02d}"


def _date(fake: Faker, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=fake.random.randint(0, max((end - start).days, 0)))


def _long_date(day: dt.date) -> str:
    return f"{day.day:02d} {MONTHS_GENITIVE[day.month - 1]} {day.year} года"


def _money(kopecks: int) -> str:
    rubles = f"{kopecks // 100:,}".replace(",", " ")
    return f"{rubles},{kopecks % 100:02d}"


def _city(fake: Faker) -> str:
    """A city name without Faker's notes in parentheses: ``Киров (Вятка)`` → ``Киров``."""
    return re.sub(r"\s*\(.*?\)", "", fake.city_name()).strip()


def _company(fake: Faker) -> str:
    """A company name without quotes, which OCR engines render inconsistently."""
    return re.sub(r"[«»\"“”]", "", fake.company()).strip()


def _short(make: Callable[[], str]) -> str:
    """The first value from ``make`` that fits on one line (``MAX_CHARS``)."""
    for _ in range(50):
        value = make()
        if len(value) <= MAX_CHARS:
            return value
    return value[:MAX_CHARS].rstrip()
