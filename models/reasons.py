"""Reasons a clerk can read: the top factors behind each probability.

LightGBM's own per-feature contributions (``pred_contrib``, TreeSHAP on the
log-odds scale) say *how much* each feature moved a case's score; this module
says *what* the feature says about the case, in Chinese and English
("存款足以清偿 / funds found cover the claim"), from the feature's value.

Each feature has a small phrase table and a vectorised rule choosing the
phrase from the value, so explaining a million cases costs a few array
operations per feature, and one case costs the same code on one row.  A
reason is ``{"code", "zh", "en", "effect"}``: ``code`` is stable
(``feature:phrase``) so dashboards can count reasons, ``effect`` is the signed
contribution to the log-odds of the probability it explains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.builder import FEATURE_LABELS
from features.record import FIELD_BY_NAME, FieldSpec


@dataclass(frozen=True)
class Phrase:
    key: str
    zh: str
    en: str


#: A rule: feature values -> index into its phrase list (vectorised).
Rule = Callable[[np.ndarray], np.ndarray]


def _log_threshold(amount_ratio: float) -> float:
    return float(np.log1p(amount_ratio))


# The rules are small classes, not closures: a model travels to Dask's workers
# pickled, and plain pickle refers to a class by its name but cannot carry a
# closure.  Dask then falls back to cloudpickle, which copies a closure's code
# and globals by value, and a lock reachable from them fails the whole model.


@dataclass(frozen=True)
class Buckets:
    """A rule: 0 for NaN, then 1 + the interval of ``edges`` the value falls in."""

    edges: tuple[float, ...]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            index = np.searchsorted(np.asarray(self.edges, dtype=float), values, side="right") + 1
        return np.where(np.isnan(values), 0, index)


@dataclass(frozen=True)
class CodeRule:
    """A rule for a coded feature: 0 for NaN, negative or unseen codes, else 1 + the code."""

    n_codes: int

    def __call__(self, values: np.ndarray) -> np.ndarray:
        valid = ~np.isnan(values) & (values >= 0) & (values < self.n_codes)
        return np.where(valid, np.nan_to_num(values, nan=-1.0).astype(np.int64) + 1, 0)


def _yes_no(unknown: Phrase, no: Phrase, yes: Phrase) -> tuple[Rule, tuple[Phrase, ...]]:
    return Buckets((0.5,)), (unknown, no, yes)


def _p(key: str, zh: str, en: str) -> Phrase:
    return Phrase(key, zh, en)


# Inquiry features are empty before the inquiry answers or when it is silent on an item.
_UNANSWERED = _p("unanswered", "查控尚未反馈该项", "not reported by the inquiry (yet)")

# Each entry: feature name -> (rule, phrases).  Bucket 0 is always "unknown".
_RULES: dict[str, tuple[Rule, tuple[Phrase, ...]]] = {
    "claim_amount_log": (
        Buckets((_log_threshold(1e4), _log_threshold(2e5), _log_threshold(1e6))),
        (
            _p("unknown", "标的额不明", "claim amount unknown"),
            _p("small", "标的额较小（不足1万元）", "small claim (under ¥10k)"),
            _p("medium", "标的额中等（1万至20万元）", "medium claim (¥10k–200k)"),
            _p("large", "标的额较大（20万至100万元）", "large claim (¥200k–1M)"),
            _p("very_large", "标的额巨大（100万元以上）", "very large claim (over ¥1M)"),
        ),
    ),
    "funds_to_claim_log": (
        Buckets((1e-12, _log_threshold(1.0) - 1e-12)),
        (
            _UNANSWERED,
            _p("none", "未查到存款或网络资金", "no deposits or online funds found"),
            _p("short", "查到的资金不足以清偿", "funds found fall short of the claim"),
            _p("covers", "存款足以清偿", "deposits cover the claim"),
        ),
    ),
    "liquid_to_claim_log": (
        Buckets((1e-12, _log_threshold(1.0) - 1e-12)),
        (
            _UNANSWERED,
            _p("none", "未查到存款、网络资金或证券", "no funds or securities found"),
            _p("short", "资金与证券不足以清偿", "funds and securities fall short of the claim"),
            _p("covers", "资金与证券足以清偿", "funds and securities cover the claim"),
        ),
    ),
    "funds_cover_claim": _yes_no(
        _UNANSWERED,
        _p("no", "存款不足以清偿", "deposits do not cover the claim"),
        _p("yes", "存款足以清偿", "deposits cover the claim"),
    ),
    "securities_to_claim_log": (
        Buckets((1e-12,)),
        (
            _UNANSWERED,
            _p("none", "未查到证券", "no securities found"),
            _p("found", "查到可执行证券", "securities found"),
        ),
    ),
    "preserved_to_claim_log": (
        Buckets((1e-12, _log_threshold(1.0) - 1e-12)),
        (
            _p("unknown", "保全金额不明", "preserved amount unknown"),
            _p("none", "无诉讼保全财产", "nothing preserved during litigation"),
            _p("short", "保全财产不足标的额", "preserved property short of the claim"),
            _p("covers", "保全财产足以覆盖标的额", "preserved property covers the claim"),
        ),
    ),
    "capital_to_claim_log": (
        Buckets((_log_threshold(1.0),)),
        (
            _p(
                "unknown", "注册资本不明或非企业", "registered capital unknown or not an enterprise"
            ),
            _p("below", "注册资本低于标的额", "registered capital below the claim"),
            _p("above", "注册资本高于标的额", "registered capital above the claim"),
        ),
    ),
    "prior_terminated_share": (
        Buckets((1e-12, 0.5)),
        (
            _p("no_prior", "无既往执行案件", "no prior enforcement cases"),
            _p("none", "既往案件均未以终本结案", "no prior case ended without property"),
            _p("some", "部分既往案件以终本结案", "some prior cases ended without property"),
            _p("most", "既往案件多以终本结案", "most prior cases ended without property"),
        ),
    ),
    "respondent_age": (
        Buckets((30, 60)),
        (
            _p("unknown", "年龄不明或非自然人", "age unknown or not a person"),
            _p("young", "被执行人30岁以下", "respondent under 30"),
            _p("middle", "被执行人30至60岁", "respondent aged 30–60"),
            _p("senior", "被执行人60岁以上", "respondent over 60"),
        ),
    ),
    "days_since_judgment": (
        Buckets((90, 365)),
        (
            _p("unknown", "生效时间不明", "time since judgment unknown"),
            _p("prompt", "生效后及时申请执行", "filed soon after the judgment"),
            _p("months", "生效数月后申请执行", "filed months after the judgment"),
            _p("late", "生效一年以上才申请执行", "filed over a year after the judgment"),
        ),
    ),
    "whereabouts_known": _yes_no(
        _p("unknown", "下落不明确", "whereabouts unclear"),
        _p("no", "被执行人下落不明", "respondent's whereabouts unknown"),
        _p("yes", "被执行人下落明确", "respondent can be reached"),
    ),
    "dishonest_listed": _yes_no(
        _p("unknown", "失信情况不明", "dishonest-list status unknown"),
        _p("no", "未列入失信名单", "not on the dishonest-debtor list"),
        _p("yes", "已列入失信被执行人名单", "on the dishonest-debtor list"),
    ),
    "consumption_restricted": _yes_no(
        _p("unknown", "限消情况不明", "consumption restriction unknown"),
        _p("no", "未被限制消费", "no consumption restriction"),
        _p("yes", "已被限制高消费", "under a consumption restriction"),
    ),
    "litigation_preserved": _yes_no(
        _p("unknown", "保全情况不明", "preservation unknown"),
        _p("no", "诉讼中未保全财产", "nothing preserved during the lawsuit"),
        _p("yes", "诉讼中已保全财产", "property preserved during the lawsuit"),
    ),
    "inquiry_done": _yes_no(
        _p("unknown", "查控情况不明", "inquiry status unknown"),
        _p("no", "首次网络查控尚未反馈", "first network inquiry not answered yet"),
        _p("yes", "首次网络查控已反馈", "first network inquiry answered"),
    ),
    "has_salary_income": _yes_no(
        _UNANSWERED,
        _p("no", "无工资收入记录", "no salary income on record"),
        _p("yes", "有工资收入可扣划", "salary income to garnish"),
    ),
    "zombie_enterprise": _yes_no(
        _p("unknown", "企业状态不明", "enterprise status unknown"),
        _p("no", "非吊销或注销企业", "not a revoked or deregistered enterprise"),
        _p("yes", "企业已吊销或注销", "enterprise revoked or deregistered"),
    ),
    "person_tort_crime_case": _yes_no(
        _p("unknown", "案件类型不明", "case type unknown"),
        _p("no", "非自然人侵权或刑事涉财案件", "not an individual tort or criminal case"),
        _p(
            "yes", "自然人交通事故或刑事涉财案件", "individual debtor in a traffic or criminal case"
        ),
    ),
    "nothing_found": _yes_no(
        _UNANSWERED,
        _p("no", "首次查控发现财产", "first inquiry found property"),
        _p("yes", "首次查控未发现任何财产", "first inquiry found nothing"),
    ),
    "property_sale_likely": _yes_no(
        _UNANSWERED,
        _p("no", "无需处置财产", "no property needs selling"),
        _p("yes", "资金不足，需评估拍卖财产", "funds short: property must be appraised and sold"),
    ),
}


def _count_rule(
    unknown: Phrase, none: Phrase, some: Phrase, many: Phrase | None = None, many_from: float = 2
) -> tuple[Rule, tuple[Phrase, ...]]:
    if many is None:
        return Buckets((0.5,)), (unknown, none, some)
    return Buckets((0.5, many_from - 0.5)), (unknown, none, some, many)


_RULES.update(
    {
        "real_estate_count": _count_rule(
            _UNANSWERED,
            _p("none", "未查到不动产", "no real estate found"),
            _p("some", "有不动产需评估拍卖", "real estate to appraise and auction"),
        ),
        "vehicle_count": _count_rule(
            _UNANSWERED,
            _p("none", "未查到车辆", "no vehicles found"),
            _p("some", "查到车辆可查封", "vehicles to seize"),
        ),
        "equity_stakes": _count_rule(
            _UNANSWERED,
            _p("none", "未查到股权", "no equity stakes found"),
            _p("some", "有股权需处置", "equity stakes to sell"),
        ),
        "seizable_items": _count_rule(
            _UNANSWERED,
            _p("none", "无可查封财产", "nothing to seize"),
            _p("one", "有一项可查封财产", "one item to seize"),
            _p("several", "有多项可查封财产", "several items to seize"),
        ),
        "respondent_prior_cases": _count_rule(
            _p("unknown", "既往案件不明", "prior cases unknown"),
            _p("none", "无既往执行案件", "no prior enforcement cases"),
            _p("one", "有一件既往执行案件", "one prior enforcement case"),
            _p("several", "多次被申请执行", "several prior enforcement cases"),
        ),
        "respondent_prior_terminated": _count_rule(
            _p("unknown", "既往终本不明", "prior 终本 unknown"),
            _p("none", "既往无终本案件", "no prior case ended without property"),
            _p("some", "既往有终本案件", "prior case(s) ended without property"),
        ),
        "respondent_concurrent_cases": _count_rule(
            _p("unknown", "在执案件不明", "open cases unknown"),
            _p("none", "无其他在执案件", "no other open cases"),
            _p("one", "另有一件在执案件", "one other open case"),
            _p("several", "另有多件在执案件", "several other open cases"),
        ),
        "n_respondents": (
            Buckets((1.5, 3.5)),
            (
                _p("unknown", "被执行人数不明", "number of respondents unknown"),
                _p("one", "单一被执行人", "a single respondent"),
                _p("few", "被执行人2至3人", "2–3 respondents"),
                _p("many", "被执行人众多", "many respondents"),
            ),
        ),
        "n_applicants": (
            Buckets((1.5, 3.5)),
            (
                _p("unknown", "申请人数不明", "number of applicants unknown"),
                _p("one", "单一申请执行人", "a single applicant"),
                _p("few", "申请执行人2至3人", "2–3 applicants"),
                _p("many", "申请执行人众多", "many applicants"),
            ),
        ),
    }
)


def _amount_rule(feature: str) -> tuple[Rule, tuple[Phrase, ...]]:
    zh, en = FEATURE_LABELS[feature]
    unknown = (
        _UNANSWERED if feature in _INQUIRY_AMOUNTS else _p("unknown", f"{zh}不明", f"{en} unknown")
    )
    return Buckets((1e-12,)), (
        unknown,
        _p("none", f"{zh}为零", f"no {en}"),
        _p("some", f"有{zh}", f"{en} found" if feature in _INQUIRY_AMOUNTS else f"{en} on record"),
    )


_INQUIRY_AMOUNTS = {
    "bank_balance_log",
    "online_payment_balance_log",
    "securities_value_log",
    "funds_found_log",
}
for _feature in (*_INQUIRY_AMOUNTS, "registered_capital_log", "preserved_amount_log"):
    _RULES[_feature] = _amount_rule(_feature)


# --- the terminated-case (终本) record's own features ------------------------------------

_NO_INQUIRY = _p("no_inquiry", "终本后尚未查控", "no inquiry since termination")

#: Phrasing of the terminated-case features the new-case record does not have; the
#: shared ones (claim, respondent, prior cases …) are phrased as above.
TERMINATED_RULES: dict[str, tuple[Rule, tuple[Phrase, ...]]] = {
    **_RULES,
    "unpaid_amount_log": (
        Buckets((_log_threshold(5e4), _log_threshold(5e5))),
        (
            _p("unknown", "未履行金额不明", "unpaid amount unknown"),
            _p("small", "未履行金额较小（不足5万元）", "small unpaid amount (under ¥50k)"),
            _p("medium", "未履行金额中等（5万至50万元）", "medium unpaid amount (¥50k–500k)"),
            _p("large", "未履行金额较大（50万元以上）", "large unpaid amount (over ¥500k)"),
        ),
    ),
    "paid_before_termination_log": (
        Buckets((1e-12,)),
        (
            _p("unknown", "终本前履行情况不明", "payment before termination unknown"),
            _p("none", "终本前分文未付", "nothing paid before termination"),
            _p("some", "终本前曾部分履行", "part paid before termination"),
        ),
    ),
    "inquiries_since": _count_rule(
        _p("unknown", "终本后查控次数不明", "inquiries since termination unknown"),
        _NO_INQUIRY,
        _p("some", "终本后已定期查控", "inquired since termination"),
    ),
    "last_bank_balance_log": (
        Buckets((_log_threshold(1e3), _log_threshold(2e4))),
        (
            _NO_INQUIRY,
            _p("little", "最近查控存款极少", "next to no deposits at the last inquiry"),
            _p("some", "最近查控有少量存款", "some deposits at the last inquiry"),
            _p("much", "最近查控存款较多", "sizeable deposits at the last inquiry"),
        ),
    ),
    "last_real_estate_count": _count_rule(
        _NO_INQUIRY,
        _p("none", "最近查控未见不动产", "no real estate at the last inquiry"),
        _p("some", "最近查控发现不动产", "real estate found at the last inquiry"),
    ),
    "last_vehicle_count": _count_rule(
        _NO_INQUIRY,
        _p("none", "最近查控未见车辆", "no vehicles at the last inquiry"),
        _p("some", "最近查控发现车辆", "vehicles found at the last inquiry"),
    ),
    "last_equity_stakes": _count_rule(
        _NO_INQUIRY,
        _p("none", "最近查控未见股权", "no equity stakes at the last inquiry"),
        _p("some", "最近查控发现股权", "equity stakes found at the last inquiry"),
    ),
    "last_items_found": _count_rule(
        _NO_INQUIRY,
        _p("none", "最近查控无可查封财产", "nothing to seize at the last inquiry"),
        _p("some", "最近查控有可查封财产", "something to seize at the last inquiry"),
    ),
    "last_bank_to_unpaid_log": (
        Buckets((_log_threshold(0.05), _log_threshold(1.0) - 1e-12)),
        (
            _NO_INQUIRY,
            _p("little", "存款远不足未履行金额", "deposits far short of the debt"),
            _p("part", "存款可清偿部分债务", "deposits cover part of the debt"),
            _p("covers", "存款足以清偿未履行金额", "deposits cover the debt"),
        ),
    ),
    "new_cases_as_applicant": _count_rule(
        _p("unknown", "被执行人起诉情况不明", "cases brought by the debtor unknown"),
        _p("none", "被执行人终本后未作为原告或申请人", "debtor has brought no case since"),
        _p(
            "some",
            "被执行人终本后作为原告或申请人（可能有收入或债权）",
            "debtor has since brought cases (income or claims of its own)",
        ),
    ),
    "new_registrations": _count_rule(
        _p("unknown", "新登记财产不明", "new registrations unknown"),
        _p("none", "终本后无新登记财产", "nothing newly registered since"),
        _p(
            "some",
            "终本后有新登记的公司、车辆或财产",
            "companies, vehicles or property newly registered",
        ),
    ),
    "applicant_leads": _count_rule(
        _p("unknown", "财产线索不明", "property leads unknown"),
        _p("none", "申请人未提供财产线索", "no property leads from the applicant"),
        _p("some", "申请人提供了财产线索", "the applicant filed property leads"),
    ),
    "debtor_reported_property": _yes_no(
        _p("unknown", "财产申报情况不明", "property report unknown"),
        _p("no", "被执行人未申报财产", "no property report"),
        _p("yes", "被执行人已申报财产", "the debtor filed a property report"),
    ),
    "months_since_termination": (
        Buckets((12.0, 36.0)),
        (
            _p("unknown", "终本时间不明", "time since termination unknown"),
            _p("recent", "终本不足一年", "terminated less than a year ago"),
            _p("middle", "终本一至三年", "terminated one to three years ago"),
            _p("old", "终本三年以上", "terminated over three years ago"),
        ),
    ),
    "months_since_last_inquiry": (
        Buckets((3.0,)),
        (
            _NO_INQUIRY,
            _p("recent", "最近三个月内查控过", "inquired in the last three months"),
            _p("older", "最近查控已超过三个月", "last inquiry over three months ago"),
        ),
    ),
    "unpaid_share_of_claim": (
        Buckets((0.999,)),
        (
            _p("unknown", "履行比例不明", "share paid unknown"),
            _p("part", "标的额已部分履行", "part of the claim paid"),
            _p("all", "标的额全部未履行", "nothing of the claim paid"),
        ),
    ),
}


class ReasonExplainer:
    """Phrases the top contributions of one model's features.

    ``categories`` is the feature builder's learned vocabulary
    (``CaseFeatureBuilder.categories_``): a categorical feature holds the index
    of its code, which is phrased "案由：民间借贷 / cause of action: private
    lending".  ``labels``, ``rules`` and ``fields`` say how the features of
    a record are named and phrased: the new-case record's by default,
    :data:`TERMINATED_RULES` and the terminated builder's labels for a
    terminated-case model.
    """

    def __init__(
        self,
        feature_names: Sequence[str],
        categories: Mapping[str, Sequence[str]],
        *,
        labels: Mapping[str, tuple[str, str]] = FEATURE_LABELS,
        rules: Mapping[str, tuple[Rule, tuple[Phrase, ...]]] = _RULES,
        fields: Mapping[str, FieldSpec] = FIELD_BY_NAME,
    ):
        self.feature_names = list(feature_names)
        self._rules: list[Rule] = []
        self._phrases: list[list[tuple[str, str, str]]] = []
        for name in self.feature_names:
            label_zh, label_en = labels[name]
            if name in categories:
                rule, phrases = self._categorical(
                    fields[name], label_zh, label_en, categories[name]
                )
            elif name in rules:
                rule, phrases = rules[name]
            else:
                raise KeyError(f"no phrasing for feature {name!r}: add a rule in models/reasons.py")
            self._rules.append(rule)
            self._phrases.append([(f"{name}:{p.key}", p.zh, p.en) for p in phrases])
        # The JSON of each phrase up to its effect, encoded once (batch scoring's hot loop).
        self._json_fragments = [
            [
                json.dumps({"code": code, "zh": zh, "en": en}, ensure_ascii=False)[:-1]
                + ',"effect":'
                for code, zh, en in phrases
            ]
            for phrases in self._phrases
        ]

    @staticmethod
    def _categorical(
        spec: FieldSpec, label_zh: str, label_en: str, codes: Sequence[str]
    ) -> tuple[Rule, tuple[Phrase, ...]]:
        labels = {c.code: (c.zh, c.en) for c in spec.codes}
        phrases = [_p("unknown", f"{label_zh}不明或为新代码", f"{label_en} unknown or new")]
        for code in codes:
            zh, en = labels.get(code, (code, code))
            phrases.append(_p(code, f"{label_zh}：{zh}", f"{label_en}: {en}"))
        return CodeRule(len(codes)), tuple(phrases)

    def explain(self, features: np.ndarray, contributions: np.ndarray, k: int = 3) -> Reasons:
        """Top-``k`` reasons of each case, strongest first.

        ``features`` is the builder's output (n × F); ``contributions`` is
        LightGBM's ``pred_contrib`` output (n × F+1, the last column the bias).
        The result holds arrays; :meth:`Reasons.dicts` and
        :meth:`Reasons.json_lists` render them.
        """
        n_features = features.shape[1]
        effects = contributions[:, :n_features]
        k = min(k, n_features)
        # Strongest first; ties broken by feature order so the result is deterministic.
        order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :k]
        chosen_effects = np.take_along_axis(effects, order, axis=1)
        chosen_values = np.take_along_axis(features, order, axis=1)
        buckets = np.empty_like(order)
        for column in range(k):
            feature_index = order[:, column]
            for feature in np.unique(feature_index):
                rows = feature_index == feature
                buckets[rows, column] = self._rules[feature](chosen_values[rows, column])
        return Reasons(self, order, buckets, np.round(chosen_effects, 4))


@dataclass
class Reasons:
    """The top reasons of a batch of cases as arrays (n × k): feature, phrase, effect."""

    explainer: ReasonExplainer
    feature: np.ndarray
    phrase: np.ndarray
    effect: np.ndarray

    def __len__(self) -> int:
        return len(self.feature)

    def dicts(self) -> list[list[dict[str, object]]]:
        """Each case's reasons as ``{"code", "zh", "en", "effect"}`` dicts (the API's form)."""
        phrases = self.explainer._phrases
        return [
            [
                {"code": code, "zh": zh, "en": en, "effect": effect}
                for (code, zh, en), effect in zip(
                    (phrases[f][b] for f, b in zip(features, buckets, strict=True)),
                    effects,
                    strict=True,
                )
            ]
            for features, buckets, effects in zip(
                self.feature.tolist(), self.phrase.tolist(), self.effect.tolist(), strict=True
            )
        ]

    def json_lists(self) -> list[str]:
        """Each case's reasons as a JSON array, equal to ``json.dumps`` of :meth:`dicts`.

        Built from pre-encoded phrase fragments: a million cases need no
        million dicts (memory stays flat while batch scoring).
        """
        fragments = self.explainer._json_fragments
        return [
            "["
            + ",".join(
                f"{fragments[f][b]}{effect!r}}}"
                for f, b, effect in zip(features, buckets, effects, strict=True)
            )
            + "]"
            for features, buckets, effects in zip(
                self.feature.tolist(), self.phrase.tolist(), self.effect.tolist(), strict=True
            )
        ]
