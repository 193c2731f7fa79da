/* The pages' words in Kazakh, Russian and English (one dictionary per language; the pages run
 * in the browser, so the strings live here rather than in a server-side catalogue). */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  KZ.strings = {
    en: {
      booth_title: "Voting booth", receipt_title: "Check a receipt",
      manifest_ok: "The election's manifest carries the commission's signature (key {key}).",
      manifest_bad: "The manifest's commission signature does not check: do not vote here.",
      unit: "Electoral unit", elector: "Your elector id", code: "Credential code (from your envelope)",
      key_file: "or your key file (PEM)", sign_in: "Continue",
      wrong_key: "This code does not give the key the roll holds for this elector: check the elector id and the code.",
      choose: "Choose one candidate, or a blank ballot", blank: "Blank ballot (no candidate)",
      encrypt: "Encrypt my choice", tracker: "Tracker of this encrypted ballot",
      tracker_help: "Your device has encrypted your choice and committed to it. Now either cast it, or audit it to check that the device encrypted what you chose.",
      cast: "Cast this ballot", audit: "Audit (then encrypt again)",
      audit_ok: "Audit passed: this encrypted ballot holds {what}. It has been thrown away and can never be cast.",
      audit_bad: "AUDIT FAILED: {why}. Do not vote on this device; tell the observers.",
      audit_elsewhere: "This page's own check is a convenience: a dishonest server could serve a dishonest page. Check the audit file on another device, or with scripts/verify_receipt.py --audited FILE --url {url}.",
      download_audit: "Save the audit data", encrypt_again: "Encrypt again",
      cast_ok: "Your ballot was accepted as entry {index} of log {unit}/{round}. Save your receipt and your ballot.",
      download_receipt: "Save the receipt", download_ballot: "Save the ballot",
      check_receipt: "Check a receipt", refused: "The service refused the ballot: {why}",
      no_round: "No round of this unit is open for voting.",
      service: "Service address", commission_key: "Commission key (optional, to pin)",
      receipt_file: "Receipt file", receipt_paste: "or paste the receipt", ballot_file: "Your kept ballot (optional)",
      check: "Check", verdict_ok: "PASS: your ballot is in the log, unchanged, and the final tally counted it.",
      verdict_void: "PASS: your ballot is in the log, unchanged; its round had no quorum, so its tally was not decrypted.",
      verdict_bad: "FAIL ({ids}): the receipt is not confirmed.", not_reached: "not reached",
      R1: "The receipt is well formed",
      R2: "The manifest is signed by the commission; the election, unit and elector match",
      R3: "The log promised this entry (signed by the unit's log key)",
      R4: "The log's entry is your signed ballot, with valid proofs",
      R5: "Your ballot is in a signed checkpoint of the log",
      R6: "That checkpoint is part of the final, commission-signed log: nothing was removed",
      R7: "The tally counted that final log",
    },
    ru: {
      booth_title: "Кабина для голосования", receipt_title: "Проверка квитанции",
      manifest_ok: "Манифест выборов подписан комиссией (ключ {key}).",
      manifest_bad: "Подпись комиссии под манифестом не проверяется: не голосуйте здесь.",
      unit: "Избирательный округ", elector: "Ваш идентификатор выборщика", code: "Код из конверта",
      key_file: "или файл ключа (PEM)", sign_in: "Продолжить",
      wrong_key: "Этот код не даёт ключ, записанный в списке для этого выборщика: проверьте идентификатор и код.",
      choose: "Выберите одного кандидата или пустой бюллетень", blank: "Пустой бюллетень (без кандидата)",
      encrypt: "Зашифровать мой выбор", tracker: "Трекер зашифрованного бюллетеня",
      tracker_help: "Устройство зашифровало ваш выбор. Теперь опустите бюллетень или проверьте (аудит), что зашифровано именно то, что вы выбрали.",
      cast: "Опустить бюллетень", audit: "Аудит (затем зашифровать заново)",
      audit_ok: "Аудит пройден: бюллетень содержит {what}. Он уничтожен и никогда не будет опущен.",
      audit_bad: "АУДИТ НЕ ПРОЙДЕН: {why}. Не голосуйте на этом устройстве, сообщите наблюдателям.",
      audit_elsewhere: "Проверка на этой странице лишь для удобства: нечестный сервер может выдать нечестную страницу. Проверьте файл аудита на другом устройстве или командой scripts/verify_receipt.py --audited FILE --url {url}.",
      download_audit: "Сохранить данные аудита", encrypt_again: "Зашифровать заново",
      cast_ok: "Ваш бюллетень принят: запись {index} журнала {unit}/{round}. Сохраните квитанцию и бюллетень.",
      download_receipt: "Сохранить квитанцию", download_ballot: "Сохранить бюллетень",
      check_receipt: "Проверить квитанцию", refused: "Сервис отклонил бюллетень: {why}",
      no_round: "Ни один тур в этом округе сейчас не открыт.",
      service: "Адрес сервиса", commission_key: "Ключ комиссии (необязательно)",
      receipt_file: "Файл квитанции", receipt_paste: "или вставьте квитанцию", ballot_file: "Сохранённый бюллетень (необязательно)",
      check: "Проверить", verdict_ok: "ПРОЙДЕНО: ваш бюллетень в журнале, не изменён, и итоговый подсчёт его учёл.",
      verdict_void: "ПРОЙДЕНО: ваш бюллетень в журнале, не изменён; в туре не было кворума, поэтому подсчёт не расшифровывался.",
      verdict_bad: "НЕ ПРОЙДЕНО ({ids}): квитанция не подтверждена.", not_reached: "не проверено",
      R1: "Квитанция составлена правильно",
      R2: "Манифест подписан комиссией; выборы, округ и выборщик совпадают",
      R3: "Журнал обещал эту запись (подпись ключа журнала округа)",
      R4: "Запись журнала — ваш подписанный бюллетень с верными доказательствами",
      R5: "Бюллетень входит в подписанную контрольную точку журнала",
      R6: "Эта точка — часть итогового журнала, подписанного комиссией: ничего не удалено",
      R7: "Подсчёт учёл этот итоговый журнал",
    },
    kk: {
      booth_title: "Дауыс беру кабинасы", receipt_title: "Түбіртекті тексеру",
      manifest_ok: "Сайлау манифестіне комиссия қол қойған (кілт {key}).",
      manifest_bad: "Манифесттегі комиссия қолы тексерілмейді: мұнда дауыс бермеңіз.",
      unit: "Сайлау округі", elector: "Таңдаушы сәйкестендіргіші", code: "Конверттегі код",
      key_file: "немесе кілт файлы (PEM)", sign_in: "Жалғастыру",
      wrong_key: "Бұл код тізімдегі кілтті бермейді: сәйкестендіргіш пен кодты тексеріңіз.",
      choose: "Бір кандидатты немесе бос бюллетеньді таңдаңыз", blank: "Бос бюллетень (кандидатсыз)",
      encrypt: "Таңдауымды шифрлау", tracker: "Шифрланған бюллетень трекері",
      tracker_help: "Құрылғы таңдауыңызды шифрлады. Енді бюллетеньді салыңыз немесе аудит жасаңыз.",
      cast: "Бюллетеньді салу", audit: "Аудит (содан кейін қайта шифрлау)",
      audit_ok: "Аудит өтті: бюллетеньде {what}. Ол жойылды және ешқашан салынбайды.",
      audit_bad: "АУДИТ ӨТПЕДІ: {why}. Бұл құрылғыда дауыс бермеңіз, бақылаушыларға хабарлаңыз.",
      audit_elsewhere: "Бұл беттің тексеруі тек ыңғайлылық үшін: адал емес сервер адал емес бет бере алады. Аудит файлын басқа құрылғыда немесе scripts/verify_receipt.py --audited FILE --url {url} арқылы тексеріңіз.",
      download_audit: "Аудит деректерін сақтау", encrypt_again: "Қайта шифрлау",
      cast_ok: "Бюллетеніңіз қабылданды: {unit}/{round} журналының {index} жазбасы. Түбіртек пен бюллетеньді сақтаңыз.",
      download_receipt: "Түбіртекті сақтау", download_ballot: "Бюллетеньді сақтау",
      check_receipt: "Түбіртекті тексеру", refused: "Сервис бюллетеньді қабылдамады: {why}",
      no_round: "Бұл округте ашық тур жоқ.",
      service: "Сервис мекенжайы", commission_key: "Комиссия кілті (міндетті емес)",
      receipt_file: "Түбіртек файлы", receipt_paste: "немесе түбіртекті қойыңыз", ballot_file: "Сақталған бюллетень (міндетті емес)",
      check: "Тексеру", verdict_ok: "ӨТТІ: бюллетеніңіз журналда, өзгермеген, қорытынды санақ оны есептеді.",
      verdict_void: "ӨТТІ: бюллетеніңіз журналда, өзгермеген; турда кворум болмады, сондықтан санақ шифрдан ашылмады.",
      verdict_bad: "ӨТПЕДІ ({ids}): түбіртек расталмады.", not_reached: "тексерілмеді",
      R1: "Түбіртек дұрыс құрылған",
      R2: "Манифестке комиссия қол қойған; сайлау, округ және таңдаушы сәйкес",
      R3: "Журнал осы жазбаны уәде етті (округ журналының кілтімен қол қойылған)",
      R4: "Журнал жазбасы — дұрыс дәлелдері бар қол қойылған бюллетеніңіз",
      R5: "Бюллетеніңіз журналдың қол қойылған бақылау нүктесінде",
      R6: "Бұл нүкте комиссия қол қойған қорытынды журналдың бөлігі: ештеңе жойылмаған",
      R7: "Санақ осы қорытынды журналды есептеді",
    },
  };

  KZ.lang = "en";
  KZ.t = function (key, args) {
    const table = KZ.strings[KZ.lang] || KZ.strings.en;
    let s = table[key] !== undefined ? table[key] : KZ.strings.en[key] || key;
    for (const [k, v] of Object.entries(args || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  };
  // Fills every element with data-t="key"; buttons with data-lang switch the language.
  KZ.applyStrings = function (doc) {
    doc.querySelectorAll("[data-t]").forEach((el) => { el.textContent = KZ.t(el.dataset.t); });
    doc.documentElement.lang = KZ.lang;
  };
  KZ.setupLanguages = function (doc, onChange) {
    doc.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
      KZ.lang = b.dataset.lang;
      KZ.applyStrings(doc);
      if (onChange) onChange();
    }));
    KZ.applyStrings(doc);
  };
  // Offers bytes (or text) as a file download.
  KZ.download = function (doc, name, data, type) {
    const blob = new Blob([data], { type: type || "application/json" });
    const a = doc.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    doc.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
