/* The pages' words in Kazakh, Russian and English (one dictionary per language; the pages run
 * in the browser, so the strings live here rather than in a server-side catalogue). */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  KZ.strings = {
    en: {
      election_fingerprint: "Election fingerprint", key_fingerprint: "Commission key fingerprint",
      review: "Next: check my choice", your_choice: "You chose:", change: "Change my choice",
      sealed_choice: "This encrypted ballot holds your choice:", tracker_label: "Tracker:",
      check_again: "Check again",
      unexpected: "Something went wrong in this page: {why}. Reload the page and try again.",
      unreachable: "The service cannot be reached ({why}). Check your connection and try again.",
      http_error: "The service answered {what} with HTTP {status}. Try again in a minute.",
      no_pinned_key: "This copy of the booth carries no commission key: open the booth at the election service's address /booth.",
      bad_key_file: "This file is not an Ed25519 key file as tally-service keygen writes it.",
      receipt_bad: "The service's answer does not prove that your ballot is in the log.",
      no_elector: "Type your elector id.",
      not_on_roll: "{elector} is not on the roll of {unit}: check the unit and the elector id.",
      no_code: "Type the credential code from your envelope, or choose your key file.",
      code_char: "The code holds a character that is not in it: {c}. Check what you typed.",
      code_length: "A code has 24 characters; this one has {n}. Check what you typed.",
      code_check: "The code's check characters do not match: a typing mistake? Check what you typed.",
      already_voted: "You have already voted in this round: your ballot is entry {index} of log {unit}/{round}. Save the receipt below.",
      round_line: "{unit}, round {round}",
      choose_first: "Choose a candidate or the blank ballot first.",
      cast_ok_found: "The answer to your cast was lost, but the service's log holds your ballot: entry {index} of log {unit}/{round}. Save your receipt and your ballot.",
      doubt_asking: "The answer to your cast did not arrive. Asking the service whether your ballot went in…",
      doubt_unknown: "We cannot tell yet whether your ballot was cast. Do not encrypt again: check again in a minute.",
      doubt_not_cast: "Your ballot was not cast: the service's log does not hold it. Encrypt again and cast.",
      booth_title: "Voting booth", receipt_title: "Check a receipt",
      manifest_ok: "The election's manifest carries the signature of the commission key written into this page at the seal. Compare both fingerprints below with those on your envelope.",
      manifest_bad: "The manifest's commission signature does not check ({why}): do not vote here.",
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
      election_fingerprint: "Отпечаток выборов", key_fingerprint: "Отпечаток ключа комиссии",
      review: "Далее: проверить выбор", your_choice: "Вы выбрали:", change: "Изменить выбор",
      sealed_choice: "Этот зашифрованный бюллетень содержит ваш выбор:", tracker_label: "Трекер:",
      check_again: "Проверить снова",
      unexpected: "На странице произошла ошибка: {why}. Перезагрузите страницу и попробуйте снова.",
      unreachable: "Сервис недоступен ({why}). Проверьте соединение и попробуйте снова.",
      http_error: "Сервис ответил на {what} кодом HTTP {status}. Попробуйте через минуту.",
      no_pinned_key: "В этой копии кабины нет ключа комиссии: откройте кабину по адресу сервиса выборов /booth.",
      bad_key_file: "Это не файл ключа Ed25519, который создаёт tally-service keygen.",
      receipt_bad: "Ответ сервиса не доказывает, что ваш бюллетень в журнале.",
      no_elector: "Введите ваш идентификатор выборщика.",
      not_on_roll: "{elector} нет в списке округа {unit}: проверьте округ и идентификатор.",
      no_code: "Введите код из конверта или выберите файл ключа.",
      code_char: "В коде есть недопустимый символ: {c}. Проверьте ввод.",
      code_length: "В коде 24 символа, а здесь {n}. Проверьте ввод.",
      code_check: "Контрольные символы кода не совпадают: опечатка? Проверьте ввод.",
      already_voted: "Вы уже проголосовали в этом туре: ваш бюллетень — запись {index} журнала {unit}/{round}. Сохраните квитанцию ниже.",
      round_line: "{unit}, тур {round}",
      choose_first: "Сначала выберите кандидата или пустой бюллетень.",
      cast_ok_found: "Ответ на отправку потерялся, но журнал сервиса содержит ваш бюллетень: запись {index} журнала {unit}/{round}. Сохраните квитанцию и бюллетень.",
      doubt_asking: "Ответ на отправку не пришёл. Спрашиваем сервис, принят ли ваш бюллетень…",
      doubt_unknown: "Пока нельзя сказать, принят ли ваш бюллетень. Не шифруйте заново: проверьте снова через минуту.",
      doubt_not_cast: "Ваш бюллетень не опущен: в журнале сервиса его нет. Зашифруйте заново и опустите.",
      booth_title: "Кабина для голосования", receipt_title: "Проверка квитанции",
      manifest_ok: "Манифест выборов подписан ключом комиссии, записанным в эту страницу при опечатывании. Сравните оба отпечатка ниже с напечатанными на конверте.",
      manifest_bad: "Подпись комиссии под манифестом не проверяется ({why}): не голосуйте здесь.",
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
      election_fingerprint: "Сайлау саусақ ізі", key_fingerprint: "Комиссия кілтінің саусақ ізі",
      review: "Әрі қарай: таңдауды тексеру", your_choice: "Сіздің таңдауыңыз:", change: "Таңдауды өзгерту",
      sealed_choice: "Бұл шифрланған бюллетеньде сіздің таңдауыңыз:", tracker_label: "Трекер:",
      check_again: "Қайта тексеру",
      unexpected: "Бетте қате шықты: {why}. Бетті қайта жүктеп, қайталаңыз.",
      unreachable: "Сервиске қосылу мүмкін емес ({why}). Байланысты тексеріп, қайталаңыз.",
      http_error: "Сервис {what} сұрауына HTTP {status} кодымен жауап берді. Бір минуттан кейін қайталаңыз.",
      no_pinned_key: "Кабинаның бұл көшірмесінде комиссия кілті жоқ: кабинаны сайлау сервисінің /booth мекенжайында ашыңыз.",
      bad_key_file: "Бұл tally-service keygen жасайтын Ed25519 кілт файлы емес.",
      receipt_bad: "Сервистің жауабы бюллетеніңіздің журналда екенін дәлелдемейді.",
      no_elector: "Таңдаушы сәйкестендіргішін енгізіңіз.",
      not_on_roll: "{elector} {unit} округінің тізімінде жоқ: округ пен сәйкестендіргішті тексеріңіз.",
      no_code: "Конверттегі кодты енгізіңіз немесе кілт файлын таңдаңыз.",
      code_char: "Кодта рұқсат етілмеген таңба бар: {c}. Енгізгеніңізді тексеріңіз.",
      code_length: "Кодта 24 таңба болады, мұнда {n}. Енгізгеніңізді тексеріңіз.",
      code_check: "Кодтың бақылау таңбалары сәйкес емес: қате терілді ме? Енгізгеніңізді тексеріңіз.",
      already_voted: "Сіз бұл турда дауыс бердіңіз: бюллетеніңіз {unit}/{round} журналының {index} жазбасы. Төмендегі түбіртекті сақтаңыз.",
      round_line: "{unit}, {round}-тур",
      choose_first: "Алдымен кандидатты немесе бос бюллетеньді таңдаңыз.",
      cast_ok_found: "Жіберу жауабы жоғалды, бірақ сервис журналында бюллетеніңіз бар: {unit}/{round} журналының {index} жазбасы. Түбіртек пен бюллетеньді сақтаңыз.",
      doubt_asking: "Жіберу жауабы келмеді. Бюллетеніңіз қабылданғанын сервистен сұраймыз…",
      doubt_unknown: "Бюллетеніңіз салынғаны әзірге белгісіз. Қайта шифрламаңыз: бір минуттан кейін қайта тексеріңіз.",
      doubt_not_cast: "Бюллетеніңіз салынбады: сервис журналында ол жоқ. Қайта шифрлап, салыңыз.",
      booth_title: "Дауыс беру кабинасы", receipt_title: "Түбіртекті тексеру",
      manifest_ok: "Сайлау манифестіне мөрлеу кезінде осы бетке жазылған комиссия кілтімен қол қойылған. Төмендегі екі саусақ ізін конверттегімен салыстырыңыз.",
      manifest_bad: "Манифесттегі комиссия қолы тексерілмейді ({why}): мұнда дауыс бермеңіз.",
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

  // As the public pages pick (tally_service/i18n.py): ?lang= wins, then the browser's
  // languages in order (a regional variant such as kk-KZ counts), then English.
  KZ.pickLanguage = function (search, languages) {
    const asked = new URLSearchParams(search || "").get("lang");
    if (asked && KZ.strings[asked]) return asked;
    for (const tag of languages || []) {
      const primary = String(tag).toLowerCase().split("-")[0];
      if (KZ.strings[primary]) return primary;
    }
    return "en";
  };
  KZ.lang = root.location && root.navigator
    ? KZ.pickLanguage(root.location.search, root.navigator.languages || [root.navigator.language])
    : "en";
  KZ.t = function (key, args) {
    const table = KZ.strings[KZ.lang] || KZ.strings.en;
    let s = table[key] !== undefined ? table[key] : KZ.strings.en[key] || key;
    for (const [k, v] of Object.entries(args || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  };
  // Fills every element with data-t="key"; buttons with data-lang switch the language.
  KZ.applyStrings = function (doc) {
    doc.querySelectorAll("[data-t]").forEach((el) => { el.textContent = KZ.t(el.dataset.t); });
    doc.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === KZ.lang)));
    doc.documentElement.lang = KZ.lang;
  };
  KZ.setupLanguages = function (doc, onChange) {
    doc.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
      KZ.lang = b.dataset.lang;
      if (root.history && root.location.protocol.startsWith("http")) {
        const url = new URL(root.location.href);
        url.searchParams.set("lang", KZ.lang);
        root.history.replaceState(null, "", url);
      }
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
