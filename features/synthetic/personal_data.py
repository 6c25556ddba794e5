"""Personal data (only with ``with_pii``: to test that loading drops it).

Names, citizen identity numbers (GB 11643), unified social credit codes
(GB 32100), mobile numbers and addresses, consistent with each case: the
parties live where the court sits, identity numbers carry the debtor's birth
date and correct check characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.synthetic.text import _join, _text
from features.synthetic.world import _code, _World

_SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
_GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰辉鹏红建国志文斌俊海燕亮飞凯婷雪琳晨浩宇欣佳梅春林峰鑫波东成龙晓雷"
)
_TRADE_NAMES = tuple("华盛鑫源泰恒宏达隆兴祥瑞丰顺通发嘉德远宇博腾凯星海天金安永信")
# fmt: off
_INDUSTRIES = (
    "商贸", "建筑工程", "科技", "实业", "贸易", "房地产开发", "物流", "餐饮管理", "装饰工程", "机械设备", "电子", "投资管理",
    "农业开发", "汽车销售",
)
# fmt: on
_SHOPS = ("便利店", "餐馆", "五金店", "服装店", "汽车修理厂", "建材经营部", "水果店", "美容店")
# fmt: off
_AGENCIES = (
    "人力资源和社会保障局", "市场监督管理局", "税务局", "住房和城乡建设局", "自然资源局", "生态环境局", "城市管理综合执法局", "医疗保障局",
)
# fmt: on
# (prefix, city or not, suffix) of a bank applicant's name.
_BANKS = (
    ("中国工商银行股份有限公司", True, "分行"),
    ("中国建设银行股份有限公司", True, "分行"),
    ("中国农业银行股份有限公司", True, "分行"),
    ("中国银行股份有限公司", True, "分行"),
    ("交通银行股份有限公司", True, "分行"),
    ("中国邮政储蓄银行股份有限公司", True, "分行"),
    ("平安银行股份有限公司", True, "分行"),
    ("招商银行股份有限公司信用卡中心", False, ""),
    ("广发银行股份有限公司信用卡中心", False, ""),
    ("", True, "农村商业银行股份有限公司"),
)
# fmt: off
_STREETS = (
    "人民路", "解放路", "中山路", "建设路", "新华路", "和平路", "胜利路", "文化路", "朝阳路", "长江路", "黄河路", "幸福路", "光明路",
    "青年路", "工业大道", "滨江路", "东风路", "振兴路",
)
# fmt: on
# Mobile number prefixes of the three carriers.
# fmt: off
_MOBILE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158,
    159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191,
    198, 199,
)
# fmt: on
# GB 11643 (citizen identity number): weights of the 17 digits and the check characters.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = b"10X98765432"
# GB 32100 (unified social credit code): its 31 characters, the weights are 3**i mod 31;
# GB 11714 (organisation code, characters 9-17): weights of its 8 digits.
_USCC_CHARS = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return rng.integers(0, 10, size=(n, width), dtype=np.int64)


def _number_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers, most significant first (n x width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def _ascii_strings(codes: np.ndarray) -> pa.Array:
    """Rows of ASCII codes (n x width, uint8) as strings."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    as_bytes = codes.view(f"S{codes.shape[1]}").ravel()
    return pa.array(as_bytes, type=pa.binary()).cast(pa.string())


def _identity_numbers(area: np.ndarray, birth: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """18-character citizen identity numbers (GB 11643) with a correct check character."""
    n = len(area)
    ymd = birth.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    month = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    body = np.hstack(
        [
            _number_digits(area, 6),
            _number_digits(year * 10000 + month * 100 + day, 8),
            _digits(rng, n, 3),  # order number: odd for men, even for women
        ]
    )
    check = np.frombuffer(_ID_CHECK, dtype=np.uint8)[(body @ np.array(_ID_WEIGHTS)) % 11]
    return _ascii_strings(np.hstack([body + ord("0"), check[:, None]]))


def _credit_codes(area: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """18-character unified social credit codes (GB 32100) with correct check characters.

    ``kind`` holds the first two characters as a number: 91 enterprise, 92 individual
    business, 11 government organ.
    """
    n = len(area)
    organisation = _digits(rng, n, 8)
    org_check = (11 - (organisation @ np.array(_ORG_WEIGHTS)) % 11) % 11  # 10 is written X
    org_value = np.where(org_check == 10, 29, org_check)  # index of "X" among the 31 characters
    values = np.hstack(
        [
            _number_digits(kind, 2),
            _number_digits(area, 6),
            organisation,
            org_value[:, None],
        ]
    )
    weights = np.array([pow(3, i, 31) for i in range(17)])
    check = (31 - (values @ weights) % 31) % 31
    characters = np.frombuffer(_USCC_CHARS, dtype=np.uint8)
    return _ascii_strings(characters[np.hstack([values, check[:, None]])])


def _person_names(rng: np.random.Generator, n: int) -> pa.Array:
    # Common surnames are far more common: weights fall off along the list.
    weights = 1.0 / np.arange(1, len(_SURNAMES) + 1) ** 0.8
    weights /= weights.sum()
    surname = _text(_SURNAMES).take(pa.array(rng.choice(len(_SURNAMES), n, p=weights)))
    given = _text(_GIVEN)
    first = given.take(pa.array(rng.integers(0, len(_GIVEN), n)))
    second = given.take(pa.array(rng.integers(0, len(_GIVEN), n)))
    # About a third of given names have a single character.
    second = pc.if_else(pa.array(rng.random(n) < 0.33), "", second)
    return _join(surname, first, second)


def _pii_columns(
    rng: np.random.Generator, cases: Mapping[str, np.ndarray], world: _World
) -> dict[str, pa.Array]:
    """Names, identity numbers, phones and addresses, consistent with each case."""
    # The steps draw from rng one after the other, in this order.
    place = _places(rng, cases, world)
    columns = _respondent_columns(rng, cases, place)
    columns["applicant_name"] = _applicant_names(rng, cases, place)
    columns["phone"] = _phones(rng, len(cases["province"]))
    columns["address"] = _addresses(rng, cases, place)
    return columns


@dataclass(frozen=True)
class _Place:
    """Where the parties of each case live."""

    province_name: pa.Array
    city: pa.Array
    short_city: pa.Array  # without its last character (市, 区) where longer than two
    area: np.ndarray  # six-digit division code, as in identity numbers and credit codes


def _places(rng: np.random.Generator, cases: Mapping[str, np.ndarray], world: _World) -> _Place:
    """The parties live where the court sits: its city, or a city of its province."""
    n = len(cases["province"])
    province = cases["province"]
    court = cases["court"]
    n_cities = np.array([len(c) for c in world.cities])[province]
    city_index = rng.integers(0, 1 << 30, n) % n_cities
    all_cities = [city for cities in world.cities for city in cities]
    offsets = np.cumsum([0] + [len(c) for c in world.cities])[:-1]
    city = _text(all_cities).take(pa.array(offsets[province] + city_index))
    short_city = _text(c[:-1] if len(c) > 2 else c for c in all_cities).take(
        pa.array(offsets[province] + city_index)
    )
    province_name = _text(world.province_names).take(pa.array(province))

    court_city = world.court_city[court]
    city_code = np.where(court_city > 0, court_city, rng.integers(1, 11, n))
    area = (
        np.array([int(code) for code in world.province_codes])[province] * 10000
        + city_code * 100
        + rng.integers(1, 29, n)
    )
    return _Place(province_name=province_name, city=city, short_city=short_city, area=area)


def _company_names(rng: np.random.Generator, n: int, place: _Place) -> pa.Array:
    trade = _text(_TRADE_NAMES)
    return _join(
        place.short_city,
        trade.take(pa.array(rng.integers(0, len(_TRADE_NAMES), n))),
        trade.take(pa.array(rng.integers(0, len(_TRADE_NAMES), n))),
        _text(_INDUSTRIES).take(pa.array(rng.integers(0, len(_INDUSTRIES), n))),
        "有限公司",
    )


def _agency_names(rng: np.random.Generator, n: int, place: _Place) -> pa.Array:
    return _join(place.city, _text(_AGENCIES).take(pa.array(rng.integers(0, len(_AGENCIES), n))))


def _shop_names(rng: np.random.Generator, n: int, place: _Place) -> pa.Array:
    return _join(
        place.short_city,
        _text(_GIVEN).take(pa.array(rng.integers(0, len(_GIVEN), n))),
        _text(_GIVEN).take(pa.array(rng.integers(0, len(_GIVEN), n))),
        _text(_SHOPS).take(pa.array(rng.integers(0, len(_SHOPS), n))),
    )


def _respondent_columns(
    rng: np.random.Generator, cases: Mapping[str, np.ndarray], place: _Place
) -> dict[str, pa.Array]:
    """The respondent's name and identity number (persons) or credit code (the others)."""
    n = len(cases["province"])
    respondent = cases["respondent_type"].astype(np.int8)
    shop = _shop_names(rng, n, place)
    respondent_name = pc.choose(
        pa.array(respondent),
        _person_names(rng, n),
        _company_names(rng, n, place),
        shop,
        _agency_names(rng, n, place),
    )
    age = np.where(
        np.isnan(cases["respondent_age"]), rng.integers(25, 61, n), cases["respondent_age"]
    )
    birth = (
        cases["filing_date"]
        - (age * 365.25).astype(np.int64).astype("timedelta64[D]")
        - rng.integers(0, 365, n).astype("timedelta64[D]")
    )
    kind = np.select(
        [
            respondent == _code("respondent_type", "individual_business"),
            respondent == _code("respondent_type", "government_organ"),
        ],
        [92, 11],
        91,
    )
    respondent_id = pc.if_else(
        pa.array(respondent == _code("respondent_type", "natural_person")),
        _identity_numbers(place.area, birth, rng),
        _credit_codes(place.area, kind, rng),
    )
    return {"respondent_name": respondent_name, "respondent_id_number": respondent_id}


def _applicant_names(
    rng: np.random.Generator, cases: Mapping[str, np.ndarray], place: _Place
) -> pa.Array:
    """The applicant's name: a person, a company, a bank (its branch in the city) or an agency."""
    n = len(cases["province"])
    bank = rng.integers(0, len(_BANKS), n)
    bank_name = _join(
        _text(b[0] for b in _BANKS).take(pa.array(bank)),
        pc.if_else(pa.array(np.array([b[1] for b in _BANKS])[bank]), place.short_city, ""),
        _text(b[2] for b in _BANKS).take(pa.array(bank)),
    )
    return pc.choose(
        pa.array(cases["applicant_type"].astype(np.int8)),
        _person_names(rng, n),
        _company_names(rng, n, place),
        bank_name,
        _agency_names(rng, n, place),
    )


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    """Mobile numbers of the three carriers."""
    prefixes = np.array(_MOBILE_PREFIXES, dtype=np.int64)
    phone = prefixes[rng.integers(0, len(prefixes), n)] * 10**8 + rng.integers(0, 10**8, n)
    return pa.array(phone).cast(pa.string())


def _addresses(
    rng: np.random.Generator, cases: Mapping[str, np.ndarray], place: _Place
) -> pa.Array:
    """Street addresses; a person's with the flat (building and room)."""
    n = len(cases["province"])
    respondent = cases["respondent_type"].astype(np.int8)
    building = rng.integers(1, 31, n)
    room = rng.integers(1, 27, n) * 100 + rng.integers(1, 7, n)
    flat = _join(pa.array(building).cast(pa.string()), "栋", pa.array(room).cast(pa.string()), "室")
    personal = pa.array(np.isin(respondent, [_code("respondent_type", "natural_person")]))
    return _join(
        place.province_name,
        place.city,
        _text(_STREETS).take(pa.array(rng.integers(0, len(_STREETS), n))),
        pa.array(rng.integers(1, 1000, n)).cast(pa.string()),
        "号",
        pc.if_else(personal, flat, ""),
    )
