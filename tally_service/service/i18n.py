"""The pages' languages: Kazakh, Russian and English.

Picking a language: ``?lang=kk|ru|en`` wins; otherwise the best of the browser's
``Accept-Language`` (RFC 9110 section 12.5.4: quality values, a primary tag matches its regional
variants, so ``kk-KZ`` picks Kazakh); otherwise English.

Messages are one table of message id -> text per language, kept here so that every page (the
public pages, the booth, the receipt page) shares one vocabulary; a message may hold
``{name}`` fields filled by ``str.format``. Numbers and dates are not translated here: they go
through Babel's CLDR data in each language's conventions (``number``, ``percent``, ``when``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_time
from babel.numbers import format_decimal, format_percent

LANGUAGES = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "en"
#: each language's name in itself, for the switcher
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def pick_language(query: str | None, accept_language: str | None) -> str:
    """The page language from ``?lang=`` and the ``Accept-Language`` header."""
    if query in LANGUAGES:
        return str(query)
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for item in (accept_language or "")[:1000].split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        # earlier entries win ties: the header lists them in order of preference
        if q > best_q:
            best, best_q = primary, q
    return best


# message id -> (kk, ru, en)
_MESSAGES: dict[str, tuple[str, str, str]] = {
    "site": (
        "Сенат сайлауы: қол қойылған деректер",
        "Выборы в Сенат: подписанные данные",
        "Senate election: signed figures",
    ),
    "skip": ("Мазмұнға өту", "Перейти к содержанию", "Skip to content"),
    "language": ("Тіл", "Язык", "Language"),
    "nav": ("Бөлімдер", "Разделы", "Sections"),
    "overview": ("Шолу", "Обзор", "Overview"),
    "results": ("Нәтижелер", "Итоги", "Results"),
    "observe": ("Бақылаушыға", "Наблюдателю", "Observe"),
    "unit": ("Округ", "Округ", "Unit"),
    "turnout_title": (
        "Округтер бойынша қатысу және кворум",
        "Явка и кворум по округам",
        "Turnout and quorum by unit",
    ),
    "registered": ("Тіркелген сайлаушылар", "Зарегистрировано выборщиков", "Registered electors"),
    "took_part": ("Қатысқандар", "Приняли участие", "Took part"),
    "turnout": ("Қатысу", "Явка", "Turnout"),
    "quorum": ("Кворум", "Кворум", "Quorum"),
    "quorum_at": ("Кворум жиналды", "Кворум достигнут", "Quorum reached"),
    "quorum_no": ("жоқ", "нет", "not yet"),
    "round": ("Тур", "Тур", "Round"),
    "round_n": ("{n}-тур", "{n}-й тур", "Round {n}"),
    "status": ("Күйі", "Статус", "Status"),
    "total": ("Барлығы", "Всего", "Total"),
    "state_not-open": ("ашылмаған", "не открыт", "not open"),
    "state_open": ("дауыс беру жүріп жатыр", "идёт голосование", "open"),
    "state_closed": ("жабылды", "закрыт", "closed"),
    "state_runoff-needed": ("қайта дауыс беру қажет", "нужен второй тур", "runoff needed"),
    "state_runoff-open": ("қайта дауыс беру жүріп жатыр", "идёт второй тур", "runoff open"),
    "state_runoff-closed": ("қайта дауыс беру жабылды", "второй тур закрыт", "runoff closed"),
    "not_signed": ("уақыт қол қойылмаған", "время не подписано", "time not signed"),
    "times_in": (
        "Уақыт {zone} белдеуі бойынша көрсетілген.",
        "Время указано в поясе {zone}.",
        "Times are shown in {zone}.",
    ),
    "signed_note": (
        "Әр сан соңғы қол қойылған бақылау нүктесінен (checkpoint) алынады, тірі дерекқордан "
        "емес: ол бір нүкте кезеңіне дейін кешігуі мүмкін.",
        "Каждое число взято из последней подписанной контрольной точки (checkpoint), а не из "
        "базы данных: оно может отставать не более чем на один период.",
        "Every figure comes from the latest signed checkpoint, not from the live database: it "
        "may lag by up to one checkpoint period.",
    ),
    "live": (
        "Бет өзі жаңарады (JavaScript); әйтпесе бетті қайта жүктеңіз.",
        "Страница обновляется сама (JavaScript); иначе перезагрузите её.",
        "This page updates itself (JavaScript); otherwise reload it.",
    ),
    "chart_time": ("Уақыт бойынша қатысу", "Явка во времени", "Turnout over time"),
    "chart_national": ("Барлық округтер", "Все округа", "All units"),
    "chart_data": ("Диаграмма деректері", "Данные диаграммы", "Chart data"),
    "map": ("Округтер картасы (схема)", "Карта округов (схема)", "Map of the units (schematic)"),
    "time": ("Уақыт", "Время", "Time"),
    "size": ("Өлшемі", "Размер", "Size"),
    "root": ("Түбір хэш", "Корневой хэш", "Root hash"),
    "final": ("соңғы", "итоговая", "final"),
    "note": ("Қол қойылған жазба", "Подписанная запись", "Signed note"),
    "checkpoints": (
        "Қол қойылған бақылау нүктелері",
        "Подписанные контрольные точки",
        "Signed checkpoints",
    ),
    "how_verify": ("Қалай тексеруге болады", "Как проверить", "How to verify"),
    "timeline": ("Қатысу барысы", "Ход явки", "Turnout timeline"),
    "opened_at": ("Ашылды", "Открыт", "Opened"),
    "closed_at": ("Жабылды", "Закрыт", "Closed"),
    "latest_checkpoint": (
        "Соңғы бақылау нүктесі",
        "Последняя контрольная точка",
        "Latest checkpoint",
    ),
    "candidate": ("Кандидат", "Кандидат", "Candidate"),
    "votes": ("Дауыс", "Голоса", "Votes"),
    "share": ("Үлесі", "Доля", "Share"),
    "blank": ("Бос бюллетеньдер", "Пустые бюллетени", "Blank ballots"),
    "threshold": ("50% шегі", "порог 50%", "50% threshold"),
    "winner": ("Жеңімпаз", "Победитель", "Winner"),
    "runoff_between": (
        "Қайта дауыс беру: {a} және {b}",
        "Второй тур: {a} и {b}",
        "Runoff between {a} and {b}",
    ),
    "no_quorum": (
        "Кворум жиналмады: тур жарамсыз",
        "Кворума нет: тур недействителен",
        "No quorum: the round is not valid",
    ),
    "not_decrypted": (
        "Кворум жоқ: санақ шифрдан ашылмады",
        "Кворума нет: подсчёт не расшифрован",
        "No quorum: not decrypted",
    ),
    "not_decrypted_short": ("шифрдан ашылмады", "не расшифрован", "not decrypted"),
    "not_decrypted_why": (
        "Кворумсыз тур дауыстарға қарамастан жарамсыз, сондықтан оның санағы ешқашан шифрдан "
        "ашылмайды: ашу ештеңені шешпейді, тек дауыстарды жария етуі мүмкін. Шифрланған "
        "қосындылар жарияланған, кез келген адам тексере алады.",
        "Тур без кворума недействителен при любых голосах, поэтому его подсчёт никогда не "
        "расшифровывается: это ничего не решает и могло бы лишь раскрыть голоса. Зашифрованные "
        "суммы опубликованы, и проверить их может каждый.",
        "A round without quorum is void whatever the votes, so its tally is never decrypted: that "
        "would decide nothing and could only reveal votes. Its encrypted sums are published for "
        "anyone to check.",
    ),
    "reason": (
        "Ереже бойынша себебі (қол қойылған мәтін, ағылшынша)",
        "Обоснование по правилу (подписанный текст, на английском)",
        "The rule's reason (signed text)",
    ),
    "reason_said": ("Ереже бойынша себебі", "Обоснование по правилу", "The rule's reason"),
    "no_results": (
        "Нәтижелер әлі жарияланған жоқ.",
        "Итоги ещё не опубликованы.",
        "No results are published yet.",
    ),
    "preliminary": ("Алдын ала нәтижелер", "Предварительные итоги", "Preliminary results"),
    "final_results": ("Түпкілікті нәтижелер", "Окончательные итоги", "Final results"),
    "from_result": (
        "Дереккөз: {kind}, {when} шығарылды",
        "Источник: {kind}, выпущены {when}",
        "From the {kind}, issued {when}",
    ),
    "issued": ("Шығарылды", "Выпущены", "Issued"),
    "not_yet": ("әлі жоқ", "ещё нет", "not yet"),
    "differences": (
        "Алдын ала және түпкілікті нәтижелер айырмашылығы",
        "Отличия окончательных итогов от предварительных",
        "Differences between the preliminary and final results",
    ),
    "no_differences": ("Айырмашылық жоқ.", "Отличий нет.", "No differences."),
    "elected": ("Сайланған сенаторлар", "Избранные сенаторы", "Elected senators"),
    "downloads": ("Қол қойылған құжаттар", "Подписанные документы", "Signed documents"),
    "download": ("жүктеу", "скачать", "download"),
    "results_doc_hash": ("Құжат хэші", "Хэш документа", "Document hash"),
    "commission_key": ("Комиссия кілті", "Ключ комиссии", "Commission key"),
    # the two fingerprints of crypto/fingerprint.py, named as the booth names them
    "key_fingerprint": (
        "Комиссия кілтінің саусақ ізі", "Отпечаток ключа комиссии", "Commission key fingerprint"
    ),
    "election_fingerprint": ("Сайлау саусақ ізі", "Отпечаток выборов", "Election fingerprint"),
    "pin_key": (
        "Кілтті басқа арнадан (комиссия хабарламасы, баспасөз) салыстырып, тексеруге беріңіз:",
        "Сверьте ключ по другому каналу (объявление комиссии, пресса) и передайте его проверке:",
        "Compare this key with one published elsewhere (the commission's notice, the press) "
        "and pin it when you verify:",
    ),
    "note_key": ("Жазбалар үшін тексеру кілті", "Ключ проверки записей", "Note verifier key"),
    "log_keys": ("Журнал кілттері", "Ключи журналов", "Log keys"),
    "witnesses": ("Куәгерлердің қолтаңбалары", "Подписи свидетелей", "Witness cosignatures"),
    "no_witnesses": ("жоқ", "нет", "none yet"),
    "record": ("Сайлау жазбасы", "Запись выборов", "The election record"),
    "record_get": (
        "Толық жазбаны жүктеу (tar.gz)",
        "Скачать полную запись (tar.gz)",
        "Download the whole record (tar.gz)",
    ),
    "verify_cmd": ("Тексеру командасы", "Команда проверки", "The verifier's command"),
    "verify_steps": (
        "Жазбаны жүктеп, жобаның scripts/verify.py бағдарламасымен тексеріңіз:",
        "Скачайте запись и проверьте её программой проекта scripts/verify.py:",
        "Download the record and check it with the project's scripts/verify.py:",
    ),
    "verify_checkpoint": (
        "Бақылау нүктесін тексеру: жазбаны журнал кілтімен (C2SP signed-note) тексеріңіз; "
        "verify.py V4 тексерісі әр нүктені және оның түбірін есептейді.",
        "Проверка контрольной точки: проверьте подпись записи ключом журнала (C2SP "
        "signed-note); проверка V4 в verify.py пересчитывает корень каждой точки.",
        "To check a checkpoint: verify the note's signature with the log key (C2SP "
        "signed-note); verify.py's check V4 recomputes every checkpoint's root.",
    ),
    "api_turnout": ("Қатысу құжаты (JSON)", "Документ явки (JSON)", "Turnout document (JSON)"),
    "unknown_unit": ("Мұндай округ жоқ", "Такого округа нет", "No such unit"),
    "all_units": ("Барлық округтер", "Все округа", "All units"),
    # issue 28: the election named on every page, the simulation banner, translated reasons
    "simulation": ("СИМУЛЯЦИЯ", "СИМУЛЯЦИЯ", "SIMULATION"),
    "simulation_note": (
        "Бұл нақты сайлау емес: уақыты модельденген сағатпен қойылған.",
        "Это не настоящие выборы: время задано моделируемыми часами.",
        "Not a real election: its times come from a simulated clock.",
    ),
    "voting_open": ("дауыс беру жүріп жатыр", "идёт голосование", "voting open"),
    "voting_closed": ("дауыс беру аяқталды", "голосование завершено", "voting closed"),
    "candidates": ("Кандидаттар", "Кандидаты", "Candidates"),
    "candidates_note": (
        "Комиссия тіркеген кандидаттар (мөрленген манифесттен).",
        "Кандидаты, зарегистрированные комиссией (из опечатанного манифеста).",
        "The candidates as the commission registered them (from the sealed manifest).",
    ),
    "protocol": ("Нәтижелер хаттамасы", "Протокол об итогах", "Result protocol"),
    "protocol_print": ("Басып шығару", "Печать", "Print"),
    "protocol_source": (
        "Бұл сандар қол қойылған құжаттан алынған:",
        "Эти цифры взяты из подписанного документа:",
        "These figures come from the signed document:",
    ),
    "protocol_qr": (
        "QR коды қол қойылған нәтижелер құжатына апарады.",
        "QR-код ведёт к подписанному документу об итогах.",
        "The QR code links to the signed results document.",
    ),
    "final_checkpoint": ("Соңғы бақылау нүктесі", "Итоговая контрольная точка", "Final checkpoint"),
    "tally_hash": ("Есептеу хэші", "Хэш подсчёта", "Tally hash"),
    "election_hash": (
        "Сайлау хэші (манифест)",
        "Хэш выборов (манифест)",
        "Election hash (manifest)",
    ),
    "cosignatures": ("Қолтаңбалар", "Подписи", "Signatures"),
    "verdict_valid": ("жарамды", "действительна", "valid"),
    "verdict_invalid": ("ЖАРАМСЫЗ", "НЕДЕЙСТВИТЕЛЬНА", "INVALID"),
    "verdict_unknown": ("белгісіз кілт", "неизвестный ключ", "unknown key"),
    "signer_log": ("журнал", "журнал", "log"),
    "signer_commission": ("комиссия", "комиссия", "commission"),
    "signer_witness": ("куәгер", "свидетель", "witness"),
    "full_note": ("Толық мәтін", "Полный текст", "Full text"),
    "quorum_of": (
        "куәгерлердің жарамды қолтаңбасы: {valid}, кемінде {needed} қажет",
        "действительных подписей свидетелей: {valid}, нужно не меньше {needed}",
        "{valid} valid witness signatures, at least {needed} needed",
    ),
    "reason_void": (
        "Тіркелген {registered} сайлаушының тек {took} қатысты ({pct}), жартысынан аспады: "
        "кворум жоқ, тур қайта өткізілуі тиіс.",
        "Приняли участие лишь {took} из {registered} зарегистрированных выборщиков ({pct}), "
        "не более половины: кворума нет, тур должен быть проведён заново.",
        "Only {took} of {registered} registered electors took part ({pct}), not more than "
        "half, so there is no quorum and the round must be held again.",
    ),
    "reason_elected": (
        "{name} {took} бюллетеньнің {votes} дауысын ({pct}), яғни жартысынан көбін алды және "
        "{n}-турда сайланды.",
        "{name}: {votes} голосов из {took} ({pct}), больше половины бюллетеней; "
        "избран(а) в {n}-м туре.",
        "{name} received {votes} votes of {took} ({pct}), more than half of the ballots, and "
        "is elected in round {n}.",
    ),
    "reason_runoff_won": (
        "{name} қайта дауыс беруде {took} бюллетеньнің {votes} дауысын ({pct}) алып жеңді; "
        "{other}: {other_votes}.",
        "{name} побеждает во втором туре: {votes} голосов из {took} ({pct}) против "
        "{other_votes} у кандидата {other}.",
        "{name} won the runoff with {votes} votes of {took} ({pct}) against {other_votes} for "
        "{other}.",
    ),
    "reason_runoff": (
        "Ешбір кандидат {took} бюллетеньнің жартысынан көбін алмады, сондықтан {a} ({va}) "
        "мен {b} ({vb}) қайта дауыс беруге шығады.",
        "Ни один кандидат не получил больше половины из {took} бюллетеней, поэтому {a} ({va}) "
        "и {b} ({vb}) выходят во второй тур.",
        "No candidate received more than half of the {took} ballots, so {a} ({va}) and {b} "
        "({vb}) go to a runoff.",
    ),
    "changes_note": (
        "Алдын ала нәтижеден кейін есептелген турлар: {units}.",
        "Туры, подсчитанные после предварительных итогов: {units}.",
        "Rounds tallied after the preliminary result in: {units}.",
    ),
    "signed_in_english": (
        "Қол қойылған мәтін (ағылшынша, id бойынша)",
        "Подписанный текст (по-английски, с идентификаторами)",
        "The signed text (with candidate ids)",
    ),
    "elected_final": (
        "Түпкілікті нәтижелер бойынша сайланған сенаторлар",
        "Избранные сенаторы по окончательным итогам",
        "Senators elected, by the final result",
    ),
}
_INDEX = {lang: i for i, lang in enumerate(LANGUAGES)}


def text(lang: str, key: str, **fields: object) -> str:
    """The message ``key`` in ``lang``, with its ``{fields}`` filled in."""
    message = _MESSAGES[key][_INDEX.get(lang, _INDEX[DEFAULT_LANGUAGE])]
    return message.format(**fields) if fields else message


def number(lang: str, value: int) -> str:
    return format_decimal(value, locale=lang)


def percent(lang: str, value: str) -> str:
    """A percentage given as the records give it ("91.70") in the language's convention."""
    try:
        fraction = Decimal(value) / 100
    except (InvalidOperation, TypeError):
        return str(value)
    # the language's percent pattern (where the sign goes, the space before it) with the
    # records' two decimals, so that the page shows exactly the signed figure
    pattern = Locale.parse(lang).percent_formats[None].pattern.replace("#,##0", "#,##0.00", 1)
    return format_percent(fraction, format=pattern, locale=lang)


def day(lang: str, iso_date: str) -> str:
    """The election day (``YYYY-MM-DD``) written out in the language's convention."""
    from datetime import date

    from babel.dates import format_date

    try:
        return format_date(date.fromisoformat(iso_date), "long", locale=lang)
    except ValueError:
        return iso_date


def when(lang: str, moment: datetime, zone: ZoneInfo, time_only: bool = False) -> str:
    """A signed UTC time shown in the election's own zone."""
    if time_only:
        return format_time(moment, "short", tzinfo=zone, locale=lang)
    return format_datetime(moment, "medium", tzinfo=zone, locale=lang)
