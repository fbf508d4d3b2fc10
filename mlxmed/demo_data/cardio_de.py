"""Synthetic German echocardiography (TTE/TEE) and cardiac MRI reports with extraction gold.

All reports are invented. Each report is rendered from a hidden patient state; the gold object
holds exactly what the text states, following these rules (also written into ``task.yaml``):

* ``lv_ef``: the *current* LV ejection fraction in %. A range ("LVEF 60-65 %") gives the
  midpoint, .5 rounded up (63). Earlier values ("Vorbefund 2021: EF 30 %"), RV values and
  reference ranges ("Norm 57-77 %") are not the answer. Only a verbal grade -> null.
* ``rv_ef``: RV ejection fraction in % (usually MRI only), else null.
* ``lvedv_ml``: absolute LV end-diastolic volume in ml (not the indexed ml/m² value, not LVESV,
  not RVEDV), else null.
* ``lv_function``: only when the report grades the LV function in words; it is never derived
  from the number alone. "gut"/"normal"/"erhalten" -> normal, "gering"/"leicht" ->
  leichtgradig, "mäßig"/"mittelgradig" -> mittelgradig, "schwer"/"hochgradig" -> hochgradig.
* ``wall_motion``: normokinetisch | regionale Wandbewegungsstörung | global hypokinetisch.
* ``aortic_stenosis`` / ``mitral_regurgitation``: grade; "keine relevante ..." -> keine;
  an intermediate grade ("MI I-II°", "MI II-III°") takes the higher grade.
* ``rhythm``: the rhythm during the examination ("Z.n. VHF, aktuell SR" -> Sinusrhythmus).
* ``diagnoses``: established diagnoses only (bekannt, Z.n., stated finding, "vereinbar mit");
  suspected ("V.a.", "DD"), excluded or negated ones do not count. The two valve diagnoses are
  listed when the lesion is graded at least mittelgradig. Sorted in the order of ``DIAGNOSES``.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

from mlxmed.demo_data.files import write_example

DEFAULT_N = 450
DEFAULT_SEED = 1907
MIN_WORDS, MAX_WORDS = 80, 300

LV_GRADES = ("normal", "leichtgradig eingeschränkt", "mittelgradig eingeschränkt",
             "hochgradig eingeschränkt")
WALL_MOTION = ("normokinetisch", "regionale Wandbewegungsstörung", "global hypokinetisch")
VALVE_GRADES = ("keine", "leichtgradig", "mittelgradig", "hochgradig")
RHYTHMS = ("Sinusrhythmus", "Vorhofflimmern", "Schrittmacherrhythmus")
DIAGNOSES = (
    "Koronare Herzkrankheit",
    "Z.n. Myokardinfarkt",
    "Dilatative Kardiomyopathie",
    "Hypertrophe Kardiomyopathie",
    "Hypertensive Herzkrankheit",
    "Herzinsuffizienz",
    "Aortenklappenstenose",
    "Mitralklappeninsuffizienz",
    "Vorhofflimmern",
    "Myokarditis",
    "Kardiale Amyloidose",
    "Perikarderguss",
    "Pulmonale Hypertonie",
)
# EF bounds per verbal grade (ASE/EACVI-style cut-offs): the gold EF always lies inside.
EF_BOUNDS = {
    "normal": (55, 72),
    "leichtgradig eingeschränkt": (45, 54),
    "mittelgradig eingeschränkt": (30, 44),
    "hochgradig eingeschränkt": (12, 29),
}

GRADE_WORDS = {
    "normal": (
        "normale systolische LV-Funktion", "gute LV-Funktion", "erhaltene systolische "
        "LV-Funktion", "regelrechte globale LV-Funktion", "LV-Funktion normal",
    ),
    "leichtgradig eingeschränkt": (
        "leichtgradig eingeschränkte LV-Funktion", "leicht reduzierte systolische LV-Funktion",
        "gering eingeschränkte LV-Pumpfunktion", "LV-Funktion leichtgradig eingeschränkt",
    ),
    "mittelgradig eingeschränkt": (
        "mittelgradig eingeschränkte LV-Funktion", "mittelgradig reduzierte LV-Funktion",
        "mäßig eingeschränkte systolische LV-Funktion", "LV-Funktion mittelgradig reduziert",
    ),
    "hochgradig eingeschränkt": (
        "hochgradig eingeschränkte LV-Funktion", "schwer eingeschränkte LV-Funktion",
        "hochgradig reduzierte systolische Pumpfunktion", "LV-Funktion hochgradig eingeschränkt",
    ),
}
WALL_WORDS = {
    "normokinetisch": (
        "keine regionalen Wandbewegungsstörungen", "normokinetischer LV",
        "Kinetik: normokinetisch", "regelrechte Wandbewegung aller Segmente",
    ),
    "regionale Wandbewegungsstörung": (
        "Hypokinesie {seg}", "Akinesie {seg}", "regionale Wandbewegungsstörung {seg}",
        "Hypo- bis Akinesie {seg}", "regionale WBS {seg}",
    ),
    "global hypokinetisch": (
        "global hypokinetischer LV", "diffuse Hypokinesie aller Segmente",
        "globale Hypokinesie des LV", "LV global hypokinetisch",
    ),
}
SEGMENTS = (
    "der Vorderwand und des Apex", "inferior", "inferolateral", "anteroseptal",
    "der Hinterwand", "apikal", "basal inferior und inferoseptal", "der Lateralwand",
)
MR_WORDS = {
    "keine": ("keine MI", "keine relevante Mitralinsuffizienz", "MV zart, schlussdicht",
              "keine Mitralinsuffizienz"),
    "leichtgradig": ("MI I°", "geringe Mitralinsuffizienz", "leichtgradige MI",
                     "leichte Mitralinsuffizienz"),
    "mittelgradig": ("MI II°", "mittelgradige Mitralinsuffizienz", "MI I-II°",
                     "mittelgradige MI (EROA {eroa_m} cm²)"),
    "hochgradig": ("MI III°", "hochgradige MI", "schwere Mitralinsuffizienz (EROA {eroa_h} cm²)",
                   "MI II-III°"),
}
AS_WORDS = {
    "keine": ("keine Aortenklappenstenose", "keine relevante Aortenstenose",
              "Aortenklappensklerose ohne Stenose", "AV trikuspid, zart, keine AS"),
    "leichtgradig": ("leichtgradige AS (Vmax {vmax} m/s, dPmean {dp} mmHg)",
                     "leichtgradige Aortenklappenstenose, dPmean {dp} mmHg"),
    "mittelgradig": ("mittelgradige AS (Vmax {vmax} m/s, dPmean {dp} mmHg, AÖF {aoef} cm²)",
                     "mittelgradige Aortenklappenstenose mit dPmean {dp} mmHg"),
    "hochgradig": ("hochgradige AS: Vmax {vmax} m/s, dPmean {dp} mmHg, AÖF {aoef} cm²",
                   "hochgradige Aortenklappenstenose (AÖF {aoef} cm², dPmean {dp} mmHg)"),
}
RHYTHM_WORDS = {
    "Sinusrhythmus": ("SR, HF {hr}/min", "Sinusrhythmus", "SR", "normofrequenter Sinusrhythmus"),
    "Vorhofflimmern": ("VHF, HF {hr}/min", "Vorhofflimmern", "absolute Arrhythmie bei VHF",
                       "tachykardes Vorhofflimmern (HF {hr}/min)"),
    "Schrittmacherrhythmus": ("Schrittmacherrhythmus", "SM-Rhythmus (DDD)",
                              "durchgehend ventrikulär stimulierter Rhythmus (SM)"),
}
# Phrases naming an established diagnosis, by normalised name.
DX_WORDS = {
    "Koronare Herzkrankheit": ("KHK", "koronare 3-Gefäßerkrankung", "koronare "
                               "2-Gefäßerkrankung", "bekannte KHK"),
    "Z.n. Myokardinfarkt": ("Z.n. Vorderwandinfarkt {y}", "Z.n. NSTEMI {y}",
                            "Z.n. Hinterwandinfarkt", "Z.n. STEMI {y}"),
    "Dilatative Kardiomyopathie": ("DCM", "dilatative Kardiomyopathie", "bekannte DCM"),
    "Hypertrophe Kardiomyopathie": ("HCM", "hypertrophe nicht-obstruktive Kardiomyopathie",
                                    "HOCM"),
    "Hypertensive Herzkrankheit": ("hypertensive Herzerkrankung", "HHK",
                                   "hypertensive Herzkrankheit"),
    "Herzinsuffizienz": ("HFrEF", "chronische Herzinsuffizienz", "HFpEF", "HFmrEF"),
    "Vorhofflimmern": ("paroxysmales Vorhofflimmern", "persistierendes VHF",
                       "Z.n. Pulmonalvenenisolation bei VHF", "permanentes Vorhofflimmern"),
    "Kardiale Amyloidose": ("bekannte ATTR-Amyloidose", "kardiale Amyloidose"),
}
SUSPECT_WORDS = {
    "Koronare Herzkrankheit": ("V.a. KHK", "Ausschluss KHK"),
    "Dilatative Kardiomyopathie": ("V.a. DCM",),
    "Myokarditis": ("V.a. Myokarditis", "Ausschluss Myokarditis"),
    "Kardiale Amyloidose": ("DD kardiale Amyloidose", "V.a. Amyloidose"),
    "Vorhofflimmern": ("V.a. paroxysmales VHF",),
    "Hypertrophe Kardiomyopathie": ("V.a. HCM", "Ausschluss HCM"),
}

# Scenario: weight, modality weights (TTE, TEE, MRT), LV grade weights, wall motion weights,
# established diagnoses (always), optional diagnoses with probability.
SCENARIOS: dict[str, dict] = {
    "normal": dict(w=18, mod=(6, 1, 2), lv=(10, 1, 0, 0), wm=(9, 0, 0), dx=(), opt=(),
                   ind=("Dyspnoe, Ausschluss strukturelle Herzerkrankung", "Palpitationen",
                        "präoperative Abklärung", "Synkope, Ausschluss kardiale Ursache",
                        "Belastungsdyspnoe unklarer Genese")),
    "khk": dict(w=20, mod=(6, 0, 3), lv=(2, 3, 3, 2), wm=(1, 6, 1),
                dx=("Koronare Herzkrankheit",),
                opt=(("Z.n. Myokardinfarkt", 0.6), ("Herzinsuffizienz", 0.3)),
                ind=("Verlaufskontrolle", "Zustand nach PCI", "Vitalitätsdiagnostik",
                     "Kontrolle der LV-Funktion")),
    "dcm": dict(w=12, mod=(5, 0, 4), lv=(0, 1, 4, 5), wm=(0, 1, 8),
                dx=("Dilatative Kardiomyopathie",), opt=(("Herzinsuffizienz", 0.7),),
                ind=("Verlaufskontrolle unter Herzinsuffizienztherapie", "Dyspnoe NYHA III",
                     "Kontrolle vor ICD-Indikationsstellung")),
    "hhk": dict(w=10, mod=(8, 0, 1), lv=(8, 2, 0, 0), wm=(6, 0, 0),
                dx=("Hypertensive Herzkrankheit",), opt=(("Herzinsuffizienz", 0.3),),
                ind=("arterielle Hypertonie, Endorganschaden?", "Belastungsdyspnoe")),
    "as": dict(w=10, mod=(7, 1, 0), lv=(6, 2, 1, 0), wm=(6, 1, 0), dx=(),
               opt=(("Koronare Herzkrankheit", 0.3),),
               ind=("Systolikum", "Verlaufskontrolle Vitium", "Dyspnoe, Systolikum")),
    "mr": dict(w=8, mod=(5, 3, 0), lv=(4, 3, 2, 0), wm=(5, 1, 1), dx=(),
               opt=(("Vorhofflimmern", 0.4),),
               ind=("Mitralvitium, Verlaufskontrolle", "Planung Mitralklappenintervention")),
    "vhf": dict(w=9, mod=(3, 6, 0), lv=(5, 3, 2, 0), wm=(6, 0, 1),
                dx=("Vorhofflimmern",), opt=(("Hypertensive Herzkrankheit", 0.3),),
                ind=("vor elektiver Kardioversion", "Thrombusausschluss vor Kardioversion",
                     "vor Pulmonalvenenisolation")),
    "myo": dict(w=6, mod=(0, 0, 1), lv=(5, 3, 1, 0), wm=(4, 2, 1), dx=(), opt=(),
                ind=("V.a. Myokarditis nach Infekt, Troponin-Erhöhung",
                     "Thoraxschmerz nach viralem Infekt")),
    "amyl": dict(w=4, mod=(1, 0, 3), lv=(3, 3, 2, 0), wm=(3, 0, 2), dx=(), opt=(),
                 ind=("LV-Hypertrophie unklarer Genese", "Herzinsuffizienz, LVH")),
    "hcm": dict(w=4, mod=(2, 0, 3), lv=(9, 1, 0, 0), wm=(6, 0, 0),
                dx=("Hypertrophe Kardiomyopathie",), opt=(),
                ind=("Familienscreening HCM", "Verlaufskontrolle HCM")),
}


def _dec(x: float, rng: random.Random, digits: int = 1) -> str:
    """Format a decimal German style (comma) most of the time."""
    s = f"{x:.{digits}f}"
    return s.replace(".", ",") if rng.random() < 0.8 else s


def _weighted(rng: random.Random, items: tuple[str, ...], weights: tuple[int, ...]) -> str:
    return rng.choices(items, weights=weights, k=1)[0]


def _ef_phrase(ef: int, grade: str, mri: bool, rng: random.Random) -> tuple[str, int]:
    """Render the current LVEF; returns (phrase, gold value)."""
    lo_b, hi_b = EF_BOUNDS[grade]
    if rng.random() < 0.15:
        candidates = [
            (lo, lo + w) for w in (5, 10) for lo in range(10, 75, 5)
            if lo_b <= (2 * lo + w + 1) // 2 <= hi_b
        ]
        if candidates:
            lo, hi = rng.choice(candidates)
            sep = rng.choice(["-", "–", " bis "])
            return rng.choice([f"LVEF: {lo}{sep}{hi} %", f"EF {lo}{sep}{hi}%"]), (lo + hi + 1) // 2
    if mri:
        forms = [f"LV-EF {ef} % (Referenz 55-73 %)", f"LVEF {ef}%", f"EF {ef} %",
                 f"linksventrikuläre EF {ef} %"]
    else:
        forms = [f"LV-EF {ef} %", f"EF ca. {ef}%", f"EF (biplan nach Simpson) {ef}%",
                 f"EF visuell geschätzt {ef}%", f"LVEF {ef}%", f"Ejektionsfraktion {ef} %",
                 f"EF biplan {ef} %"]
    return rng.choice(forms), ef


def _report(key: str, modality: str, rng: random.Random) -> tuple[str, dict]:
    """Render one report of scenario ``key``; returns (text, gold)."""
    r = rng.randint
    sc = SCENARIOS[key]
    mri = modality == "MRT"
    male = rng.random() < 0.55
    age = r(19, 45) if key in ("myo", "hcm") and rng.random() < 0.7 else r(45, 89)
    day = date(2014, 1, 1) + timedelta(days=rng.randrange(0, 365 * 11))

    grade = _weighted(rng, LV_GRADES, sc["lv"])
    ef = r(*EF_BOUNDS[grade])
    wall = _weighted(rng, WALL_MOTION, sc["wm"])
    if grade == "normal" and wall == "global hypokinetisch":
        wall = "normokinetisch"
    if grade in LV_GRADES[2:] and wall == "normokinetisch":
        wall = "global hypokinetisch" if key != "khk" else "regionale Wandbewegungsstörung"

    as_grade = "keine"
    if key == "as":
        as_grade = _weighted(rng, VALVE_GRADES[1:], (2, 3, 4))
    elif age > 70 and rng.random() < 0.2:
        as_grade = "leichtgradig"
    mr_grade = _weighted(rng, VALVE_GRADES, (5, 4, 1, 0))
    if key == "mr":
        mr_grade = _weighted(rng, VALVE_GRADES[1:], (1, 4, 4))
    elif key == "dcm":
        mr_grade = _weighted(rng, VALVE_GRADES, (1, 3, 3, 1))

    rhythm = _weighted(rng, RHYTHMS, (12, 2, 1))
    if key == "vhf":
        rhythm = _weighted(rng, RHYTHMS, (1, 6, 0))
    dx = set(sc["dx"])
    for name, p in sc["opt"]:
        if rng.random() < p:
            dx.add(name)
    if rhythm == "Vorhofflimmern":
        dx.add("Vorhofflimmern")
    if key == "myo" and rng.random() < 0.6:
        dx.add("Myokarditis")
    if key == "amyl" and rng.random() < 0.7:
        dx.add("Kardiale Amyloidose")
    if as_grade in ("mittelgradig", "hochgradig"):
        dx.add("Aortenklappenstenose")
    if mr_grade in ("mittelgradig", "hochgradig"):
        dx.add("Mitralklappeninsuffizienz")
    effusion = rng.random() < (0.25 if key in ("myo", "amyl") else 0.06)
    if effusion:
        dx.add("Perikarderguss")
    spap = r(22, 38)
    if key in ("dcm", "mr", "as") and rng.random() < 0.2 or rng.random() < 0.02:
        spap = r(48, 72)
        dx.add("Pulmonale Hypertonie")

    # What is stated? TEE often omits LV details, MRI always quantifies.
    ef_stated = rng.random() < (0.97 if mri else 0.5 if modality == "TEE" else 0.82)
    grade_stated = rng.random() < (0.6 if ef_stated else 0.8)
    wall_stated = rng.random() < (0.55 if modality == "TEE" else 0.85)
    rv_ef = r(38, 66) if mri and rng.random() < 0.85 else None
    lvedv = None
    if mri and rng.random() < 0.9 or modality == "TTE" and rng.random() < 0.25:
        lo, hi = {"normal": (85, 165), "leichtgradig eingeschränkt": (120, 190)}.get(
            grade, (160, 260))
        lvedv = r(lo, hi) + (r(20, 70) if key == "dcm" else 0) + (r(10, 30) if male else 0)
    as_stated = modality != "MRT" and (key == "as" or rng.random() < 0.75)
    mr_stated = key == "mr" or rng.random() < (0.5 if mri else 0.85)
    rhythm_stated = key == "vhf" or rng.random() < 0.75

    v = {
        "seg": rng.choice(SEGMENTS), "hr": r(55, 130) if rhythm == "Vorhofflimmern" else r(52, 92),
        "eroa_m": _dec(r(20, 39) / 100, rng, 2), "eroa_h": _dec(r(40, 70) / 100, rng, 2),
        "y": str(day.year - r(1, 12)),
    }
    if as_grade == "leichtgradig":
        v.update(vmax=_dec(r(26, 29) / 10, rng), dp=r(10, 19), aoef=_dec(r(15, 19) / 10, rng))
    elif as_grade == "mittelgradig":
        v.update(vmax=_dec(r(30, 39) / 10, rng), dp=r(21, 39), aoef=_dec(r(10, 14) / 10, rng))
    else:
        v.update(vmax=_dec(r(40, 56) / 10, rng), dp=r(41, 75), aoef=_dec(r(5, 9) / 10, rng))

    gold: dict = {
        "lv_ef": None, "rv_ef": None, "lvedv_ml": None, "lv_function": None,
        "wall_motion": None, "aortic_stenosis": None, "mitral_regurgitation": None,
        "rhythm": None, "diagnoses": [],
    }
    telegraphic = rng.random() < 0.45

    # --- history / indication ---------------------------------------------------------------
    # ``stated`` collects the diagnoses the text actually names; it becomes the gold list.
    stated: set[str] = set()
    hist: list[str] = []
    for name in sorted(dx, key=DIAGNOSES.index):
        if name in DX_WORDS and (name in sc["dx"] or rng.random() < 0.6):
            if name == "Vorhofflimmern" and rhythm == "Vorhofflimmern" and rng.random() < 0.5:
                continue  # stated through the rhythm line only
            hist.append(rng.choice(DX_WORDS[name]).format(**v))
            stated.add(name)
    # a few suspected diagnoses as distractors (do not count)
    for name, words in SUSPECT_WORDS.items():
        if name not in stated and rng.random() < (0.5 if key == "myo" and name == "Myokarditis"
                                              else 0.07):
            hist.append(rng.choice(words))
    if "Vorhofflimmern" in dx and rhythm == "Sinusrhythmus" and not any(
        "VHF" in h or "flimmern" in h for h in hist
    ):
        hist.append(rng.choice(DX_WORDS["Vorhofflimmern"]))
        stated.add("Vorhofflimmern")
    rng.shuffle(hist)
    indication = rng.choice(sc["ind"])

    # --- findings ---------------------------------------------------------------------------
    lv_parts: list[str] = []
    summary: list[str] = []
    if lvedv is not None:
        bsa = r(165, 215) / 100
        lv_vol = rng.choice([
            f"LVEDV {lvedv} ml (indexiert {round(lvedv / bsa)} ml/m²)",
            f"enddiastolisches Volumen {lvedv} ml",
            f"LVEDV {lvedv} ml, LVESV {round(lvedv * (100 - ef) / 100)} ml",
        ] if mri else [f"LVEDV (biplan) {lvedv} ml", f"LVEDV {lvedv} ml"])
        lv_parts.append(lv_vol)
        gold["lvedv_ml"] = lvedv
    elif not mri:
        lvedd = r(58, 74) if key == "dcm" else r(42, 56)
        lv_parts.append(f"LVEDD {lvedd} mm")
    if not mri and rng.random() < 0.7:
        ivs = r(13, 19) if key in ("hhk", "hcm", "amyl") else r(8, 12)
        lv_parts.append(f"IVSd {ivs} mm, LVPWd {ivs - r(0, 2)} mm")
    if ef_stated:
        prev_text = ""
        if rng.random() < 0.22:
            prev = ef + rng.choice([-1, 1]) * r(8, 20)
            prev = min(70, max(10, prev))
            if prev == ef:
                prev = ef - 10
            when = f"{r(1, 12):02d}/{day.year - r(1, 4)}"
            prev_text = rng.choice([
                f"Vorbefund {when}: EF {prev} %, jetzt",
                f"im Vergleich zur Voruntersuchung {when} (EF {prev} %)",
                f"(Voruntersuchung {when}: LVEF {prev}%) aktuell",
            ])
        phrase, gold_ef = _ef_phrase(ef, grade, mri, rng)
        gold["lv_ef"] = gold_ef
        lv_parts.append(f"{prev_text} {phrase}".strip())
    if grade_stated:
        word = rng.choice(GRADE_WORDS[grade])
        gold["lv_function"] = grade
        (summary if rng.random() < 0.6 else lv_parts).append(word)
    if wall_stated:
        gold["wall_motion"] = wall
        lv_parts.append(rng.choice(WALL_WORDS[wall]).format(**v))
    rv_parts = []
    if rv_ef is not None:
        gold["rv_ef"] = rv_ef
        rvedv = r(110, 220)
        rv_parts.append(rng.choice([f"RV-EF {rv_ef} %", f"RVEF {rv_ef}%",
                                    f"rechtsventrikuläre EF {rv_ef} %"]))
        rv_parts.append(f"RVEDV {rvedv} ml")
    else:
        tapse = r(12, 26)
        if rng.random() < 0.6:
            rv_parts.append(f"RV-Basisdurchmesser {r(30, 44)} mm, RA {r(14, 22)} cm²")
        rv_parts.append(rng.choice([f"TAPSE {tapse} mm", f"RV normal groß, TAPSE {tapse} mm"]))
        if tapse < 17:
            rv_parts.append("RV-Funktion leicht eingeschränkt")
    valve_parts = []
    if as_stated:
        gold["aortic_stenosis"] = as_grade
        valve_parts.append(rng.choice(AS_WORDS[as_grade]).format(**v))
    if rng.random() < 0.4:
        valve_parts.append(rng.choice(["AI I°", "keine AI", "AI I-II°", "Spur AI"]))
    if mr_stated:
        gold["mitral_regurgitation"] = mr_grade
        valve_parts.append(rng.choice(MR_WORDS[mr_grade]).format(**v))
    if not mri and rng.random() < 0.8:
        valve_parts.append(rng.choice([f"TI I°, sPAP {spap} mmHg", f"sPAP {spap} mmHg",
                                       f"TI II°, sPAP geschätzt {spap} mmHg"]))
    rhythm_text = ""
    if rhythm_stated:
        gold["rhythm"] = rhythm
        rhythm_text = rng.choice(RHYTHM_WORDS[rhythm]).format(**v)
        if rhythm == "Sinusrhythmus" and "Vorhofflimmern" in dx and rng.random() < 0.5:
            rhythm_text = "Z.n. VHF, aktuell " + rhythm_text
            stated.add("Vorhofflimmern")
        if rhythm == "Vorhofflimmern":
            stated.add("Vorhofflimmern")
    la = r(44, 56) if key in ("vhf", "mr") else r(32, 44)
    other = [f"LA {la} mm" if not mri else f"LA-Fläche {r(18, 34)} cm²"]
    if not mri:
        if rng.random() < 0.6:
            other.append(f"LAVI {r(38, 60) if la > 43 else r(20, 34)} ml/m²")
        if rng.random() < 0.6 and rhythm != "Vorhofflimmern":
            other.append(rng.choice([
                f"E/A {_dec(r(6, 21) / 10, rng)}, E/e' {r(6, 18)}",
                "diastolische Relaxationsstörung (Grad I)",
                f"E/e' {r(6, 18)}, diastolische Funktion grenzwertig",
            ]))
        if rng.random() < 0.6:
            other.append(f"Aortenwurzel {r(29, 41)} mm, Aorta ascendens {r(30, 43)} mm")
        if rng.random() < 0.6:
            other.append(rng.choice([f"VCI {r(12, 19)} mm, atemvariabel",
                                     f"VCI {r(21, 26)} mm, eingeschränkt atemvariabel"]))
    else:
        other.append(f"LV-Masse {r(85, 230)} g")
        if rng.random() < 0.6:
            other.append(f"natives T1 {r(950, 1120)} ms, T2 {r(44, 62)} ms")
    if effusion:
        stated.add("Perikarderguss")
        other.append(f"schmaler Perikarderguss ({r(3, 9)} mm), hämodynamisch nicht relevant")
    elif rng.random() < 0.6:
        other.append(rng.choice(["kein Perikarderguss", "kein PE", "Perikard unauffällig"]))
    if modality == "TEE":
        other.append(rng.choice([
            f"kein Thrombus im LAA, LAA-Flussgeschwindigkeit {r(25, 70)} cm/s",
            "LAA frei, kein Spontankontrast", "kein Nachweis intrakardialer Thromben",
        ]))
        other.append(rng.choice(["kein PFO", "Vorhofseptum intakt", "Aorta ascendens normal"]))
    if mri:
        lge = {
            "khk": "subendokardiales bis transmurales LGE {seg}, ischämisches Muster",
            "dcm": "streifiges intramurales LGE septal (midwall), nicht-ischämisches Muster",
            "myo": "subepikardiales LGE inferolateral, T2-Signalerhöhung",
            "amyl": "diffuses subendokardiales LGE, erhöhtes natives T1 und ECV {ecv} %",
            "hcm": "fleckiges LGE im hypertrophierten Septum",
        }.get(key, "kein LGE")
        other.append(lge.format(seg=v["seg"], ecv=r(42, 60)))
    if "Pulmonale Hypertonie" in dx:
        summary.append(f"pulmonale Hypertonie (sPAP {spap} mmHg)")
        stated.add("Pulmonale Hypertonie")
    elif rng.random() < 0.15:
        summary.append("kein Anhalt für pulmonale Hypertonie")

    # diagnoses stated in the assessment
    if key == "myo":
        if "Myokarditis" in dx:
            stated.add("Myokarditis")
            summary.append(rng.choice(["Befund vereinbar mit akuter Myokarditis "
                                       "(Lake-Louise-Kriterien erfüllt)",
                                       "Befund passend zu einer Myokarditis"]))
        else:
            summary.append("kein Hinweis auf eine Myokarditis")
    if key == "amyl":
        if "Kardiale Amyloidose" in dx:
            summary.append("Befund vereinbar mit kardialer Amyloidose")
            stated.add("Kardiale Amyloidose")
        else:
            summary.append("LV-Hypertrophie, DD hypertensive Herzerkrankung, DD Amyloidose")
    if "Z.n. Myokardinfarkt" in dx and mri and rng.random() < 0.5:
        summary.append("Narbe vereinbar mit abgelaufenem Myokardinfarkt")
        stated.add("Z.n. Myokardinfarkt")
    for name, grade_ in (("Aortenklappenstenose", as_grade),
                         ("Mitralklappeninsuffizienz", mr_grade)):
        if name in dx:
            summary.append(f"{grade_}e {name}")
            stated.add(name)
    if key == "normal" and not summary and not stated:
        summary.append(rng.choice(["kein pathologischer Befund",
                                   "unauffällige Echokardiographie",
                                   "kein Hinweis auf strukturelle Herzerkrankung"]))
    # Valve diagnoses must match a graded valve in the findings: make sure they are stated.
    if "Aortenklappenstenose" in dx:
        gold["aortic_stenosis"] = as_grade
        if not as_stated:
            valve_parts.insert(0, rng.choice(AS_WORDS[as_grade]).format(**v))
    if "Mitralklappeninsuffizienz" in dx:
        gold["mitral_regurgitation"] = mr_grade
        if not mr_stated:
            valve_parts.append(rng.choice(MR_WORDS[mr_grade]).format(**v))
    if "Dilatative Kardiomyopathie" in dx and rng.random() < 0.5:
        summary.append("bekannte dilatative Kardiomyopathie")
        stated.add("Dilatative Kardiomyopathie")
    rng.shuffle(summary)

    # --- assemble ---------------------------------------------------------------------------
    title = {
        "TTE": rng.choice(["Transthorakale Echokardiographie", "TTE", "Echokardiographie (TTE)"]),
        "TEE": rng.choice(["Transösophageale Echokardiographie", "TEE-Befund"]),
        "MRT": rng.choice(["Kardio-MRT", "Kardiale Magnetresonanztomographie",
                           "MRT Herz mit Kontrastmittel"]),
    }[modality]
    sex = ("m" if male else "w")
    head = f"{title} vom {day:%d.%m.%Y}"
    patient = rng.choice([f"Pat. {age} J., {sex}", f"Patient{'in' if not male else ''}, "
                          f"{age} Jahre", f"{age}-jährige{'r' if male else ''} "
                          f"Patient{'in' if not male else ''}"])
    lines = [head, patient + "."]
    if rng.random() < 0.6:
        lines.append(rng.choice([
            f"Größe {r(152, 194)} cm, Gewicht {r(50, 118)} kg.",
            f"RR {r(105, 175)}/{r(60, 100)} mmHg, HF {v['hr']}/min.",
        ]))
    if rng.random() < 0.8:
        lines.append("Klinik: " + rng.choice([
            "Belastungsdyspnoe NYHA II, keine Angina pectoris.",
            "Dyspnoe NYHA III, periphere Ödeme beidseits.",
            "seit Wochen zunehmende Leistungsminderung.",
            "gelegentliches Herzstolpern, sonst beschwerdefrei.",
            "keine kardialen Beschwerden, Routinekontrolle.",
        ]))
    if rng.random() < 0.35:
        lines.append("Medikation: " + ", ".join(rng.sample([
            "Bisoprolol 5 mg", "Ramipril 5 mg", "Apixaban 5 mg 1-0-1", "Torasemid 10 mg",
            "ASS 100 mg", "Atorvastatin 40 mg", "Sacubitril/Valsartan 49/51 mg",
            "Dapagliflozin 10 mg", "Spironolacton 25 mg", "Amlodipin 5 mg",
        ], r(2, 5))) + ".")
    if hist:
        lines.append(rng.choice(["Vorgeschichte: ", "Diagnosen: ", "Anamnese: "])
                     + ", ".join(hist) + ".")
    lines.append(rng.choice(["Indikation: ", "Fragestellung: "]) + indication + ".")
    if mri:
        lines.append(rng.choice([
            "Technik: 1,5 T, EKG-getriggert in Atemanhaltetechnik; Cine-SSFP in Kurz- und "
            "Langachsen, T2-STIR, natives und postkontrast T1-Mapping, LGE 10 min nach "
            "0,15 mmol/kg Gadobutrol.",
            "Untersuchung bei 3 T mit Cine-, T2-, Mapping- und LGE-Sequenzen nach "
            "gewichtsadaptierter Gabe von Gadolinium; gute Bildqualität, keine Artefakte.",
            "1,5-T-MRT, Standardprotokoll inkl. Kontrastmittel (Gadoteridol), Auswertung der "
            "Volumina in Kurzachsenstapeln mit Ausschluss der Papillarmuskeln.",
        ]))
    if modality == "TEE":
        lines.append("Sedierung mit Propofol, komplikationslose Intubation des Ösophagus.")
    elif not mri:
        if rng.random() < 0.7:
            lines.append(rng.choice([
                "Untersuchung in Linksseitenlage: M-Mode, 2D, Farbdoppler, PW-/CW-Doppler und "
                "Gewebedoppler.",
                "Standardschnitte parasternal, apikal und subkostal inkl. Doppleranalyse.",
                "TTE in Ruhe mit vollständigem Dopplerprotokoll und biplaner Volumetrie.",
            ]))
        lines.append(rng.choice(["Gute Schallbedingungen.", "Eingeschränkte Schallbedingungen "
                                 "(Adipositas).", "Mäßige Schallqualität, parasternal "
                                 "eingeschränkt."]))
    if rhythm_text:
        lines.append(("Rhythmus: " if rng.random() < 0.5 else "EKG: ") + rhythm_text + ".")
    rv_first = rv_ef is not None and rng.random() < 0.4
    if telegraphic:
        body = ["Befund:"]
        blocks = [("LV", lv_parts), ("RV", rv_parts), ("Klappen", valve_parts),
                  ("Sonstiges", other)]
        if rv_first:
            blocks[0], blocks[1] = blocks[1], blocks[0]
        for name, parts in blocks:
            if parts:
                body.append(f"{name}: " + "; ".join(parts) + ".")
        lines += body
    else:
        prose = []
        lv_sentence = "Der linke Ventrikel zeigt " + ", ".join(lv_parts) + "." if lv_parts else ""
        rv_sentence = "Rechter Ventrikel: " + ", ".join(rv_parts) + "."
        prose = [rv_sentence, lv_sentence] if rv_first else [lv_sentence, rv_sentence]
        if valve_parts:
            prose.append("An den Klappen " + ", ".join(valve_parts) + ".")
        prose.append("Ferner " + ", ".join(other) + ".")
        lines.append("Befund: " + " ".join(p for p in prose if p))
    if summary:
        items = [s[0].upper() + s[1:] for s in summary]
        if len(items) > 1 and rng.random() < 0.4:
            lines.append("Beurteilung:\n" + "\n".join(f"{i + 1}. {s}" for i, s in
                                                        enumerate(items)))
        else:
            lines.append("Beurteilung: " + "; ".join(items) + ".")
    lines.append(rng.choice([
        "Empfehlung: Fortführung der aktuellen Therapie, Verlaufskontrolle in 12 Monaten oder "
        "früher bei Beschwerdezunahme.", "Empfehlung: Vorstellung in der kardiologischen "
        "Ambulanz mit Befund, Optimierung der Medikation nach Leitlinie.",
        "Weiteres Procedere gemäß Stationsarzt. Befund telefonisch vorab mitgeteilt.",
        f"Befundet von Dr. {rng.choice(('Albers', 'Brandt', 'Kühn', 'Seidel', 'Wolff'))}.",
    ]))
    gold["diagnoses"] = [d for d in DIAGNOSES if d in stated]
    return "\n".join(lines), gold


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict]:
    """Return ``n`` synthetic reports as ``{"id", "text", "gold"}`` dicts (deterministic)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        key = _weighted(rng, tuple(SCENARIOS), tuple(s["w"] for s in SCENARIOS.values()))
        modality = _weighted(rng, ("TTE", "TEE", "MRT"), SCENARIOS[key]["mod"])
        for _ in range(50):
            text, gold = _report(key, modality, rng)
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
                break
        records.append({"id": f"echo-{i + 1:04d}", "text": text, "gold": gold})
    return records


FIELD_DESCRIPTIONS = {
    "lv_ef": "aktuelle linksventrikuläre Ejektionsfraktion in %; bei Bereich (60-65 %) der "
             "Mittelwert, .5 aufgerundet; nicht Vorbefund, RV-EF oder Normbereich",
    "rv_ef": "rechtsventrikuläre Ejektionsfraktion in % (meist nur im MRT angegeben)",
    "lvedv_ml": "absolutes linksventrikuläres enddiastolisches Volumen in ml (nicht indexiert, "
                "nicht LVESV oder RVEDV)",
    "lv_function": "verbal beschriebene systolische LV-Funktion (gut/erhalten = normal, gering = "
                   "leichtgradig, mäßig = mittelgradig, schwer = hochgradig); nicht aus der "
                   "EF-Zahl ableiten",
    "wall_motion": "linksventrikuläre Wandbewegung: normokinetisch, regionale Störung "
                   "(Hypo-/Akinesie einzelner Segmente) oder global hypokinetisch",
    "aortic_stenosis": "Grad der Aortenklappenstenose; 'keine relevante' = keine",
    "mitral_regurgitation": "Grad der Mitralinsuffizienz; I° = leichtgradig, II° = "
                            "mittelgradig, III° = hochgradig; Zwischengrade (I-II°, II-III°) "
                            "zählen als der höhere Grad",
    "rhythm": "Rhythmus während der Untersuchung ('Z.n. VHF, aktuell SR' = Sinusrhythmus)",
    "diagnoses": "gesicherte Diagnosen (bekannt, Z.n., Befund, 'vereinbar mit'); nicht V.a., "
                 "DD, Ausschluss oder verneint; Aortenklappenstenose und "
                 "Mitralklappeninsuffizienz erst ab mittelgradig; Reihenfolge wie in dieser "
                 "Liste; leere Liste, wenn keine",
}


def _field_yaml() -> str:
    def enum(values: tuple[str, ...], nullable: bool = True) -> str:
        items = [json.dumps(v, ensure_ascii=False) for v in values]
        return "[" + ", ".join(items + (["null"] if nullable else [])) + "]"

    def desc(name: str) -> str:
        return json.dumps(FIELD_DESCRIPTIONS[name], ensure_ascii=False)

    lines = [
        f'  lv_ef: {{type: [integer, "null"], minimum: 5, maximum: 90, unit: "%", '
        f"description: {desc('lv_ef')}}}",
        f'  rv_ef: {{type: [integer, "null"], minimum: 5, maximum: 90, unit: "%", '
        f"description: {desc('rv_ef')}}}",
        f'  lvedv_ml: {{type: [integer, "null"], minimum: 20, maximum: 600, unit: "ml", '
        f"description: {desc('lvedv_ml')}}}",
    ]
    for name, values in (("lv_function", LV_GRADES), ("wall_motion", WALL_MOTION),
                         ("aortic_stenosis", VALVE_GRADES),
                         ("mitral_regurgitation", VALVE_GRADES), ("rhythm", RHYTHMS)):
        lines.append(f'  {name}: {{type: [string, "null"], enum: {enum(values)}, '
                     f"description: {desc(name)}}}")
    lines.append(f"  diagnoses: {{type: array, items: {{type: string, "
                 f"enum: {enum(DIAGNOSES, nullable=False)}}}, uniqueItems: true, "
                 f"description: {desc('diagnoses')}}}")
    return "\n".join(lines) + "\n"


def task_yaml() -> str:
    """The text of ``task.yaml`` (fields built from the same constants as the generator)."""
    return (
        "# Structured data from German echo / cardiac MRI reports.\n"
        "# Written by `python -m mlxmed.demo_data`; edit the generator, not this file.\n"
        "name: cardio_befund\n"
        "kind: extraction\n"
        "language: de\n"
        'system: "Du bist eine sorgfältige kardiologische Dokumentationsassistenz. Du '
        'antwortest nur anhand des Befundtextes."\n'
        "instruction: >-\n"
        "  Lies den folgenden Echokardiographie- oder Kardio-MRT-Befund und übertrage die\n"
        "  angegebenen Werte in die Felder. Es zählt nur der aktuelle Befund dieser\n"
        "  Untersuchung, keine Vorbefunde. null bedeutet: im Befund nicht angegeben. Nichts\n"
        "  schätzen oder aus anderen Angaben ableiten.\n"
        "text_field: text\n"
        "id_field: id\n"
        "gold_field: gold\n"
        "fields:\n" + _field_yaml() +
        "long_notes: truncate_middle\n"
        "max_seq_length: 2048\n"
    )


def readme(records: list[dict], n: int, seed: int) -> str:
    """The README of the example folder, with field distributions of ``records``."""
    total = len(records)

    def count(field: str) -> str:
        values: dict[str, int] = {}
        for rec in records:
            key = "null" if rec["gold"][field] is None else str(rec["gold"][field])
            values[key] = values.get(key, 0) + 1
        return ", ".join(f"{k} {v}" for k, v in sorted(values.items(), key=lambda kv: -kv[1]))

    numeric = ", ".join(
        f"`{f}` {sum(rec['gold'][f] is not None for rec in records)}"
        for f in ("lv_ef", "rv_ef", "lvedv_ml")
    )
    dx: dict[str, int] = {d: 0 for d in DIAGNOSES}
    for rec in records:
        for d in rec["gold"]["diagnoses"]:
            dx[d] += 1
    modalities = {m: sum(rec["text"].startswith(p) for rec in records) for m, p in (
        ("TTE", ("Transthorakale", "TTE", "Echokardiographie")),
        ("TEE", ("Transösophageale", "TEE")),
        ("MRT", ("Kardio-MRT", "Kardiale Magnet", "MRT")),
    )}
    cats = "\n".join(f"- `{f}`: {count(f)}" for f in (
        "lv_function", "wall_motion", "aortic_stenosis", "mitral_regurgitation", "rhythm"))
    dx_line = ", ".join(f"{d} {c}" for d, c in dx.items())
    return f"""\
# Echo / cardiac MRI reports (synthetic, German)

{total} synthetic German reports (`reports.jsonl`: `id`, `text`, `gold`):
transthoracic echo (TTE, {modalities["TTE"]}), transoesophageal echo (TEE, {modalities["TEE"]})
and cardiac MRI (MRT, {modalities["MRT"]}). All reports are generated; no real patient or
report is involved. `gold` holds nine fields (see `task.yaml`); null means "not stated".

Non-null numbers: {numeric}.

{cats}
- `diagnoses` (empty in {sum(not rec["gold"]["diagnoses"] for rec in records)}): {dx_line}

Rules: a range "LVEF 60-65 %" gives the midpoint with .5 rounded up (63); earlier values
("Vorbefund"), RV values and normal ranges are never the LV EF; `lv_function` only when the
grade is written in words; "MI I-II°" counts as the higher grade (mittelgradig); "keine
relevante AS" = keine; suspected ("V.a.", "DD") or excluded diagnoses are not listed; valve
diagnoses are listed from mittelgradig on; the list follows the order of the enum.

Regenerate (n={n}, seed={seed}) with:

    python -m mlxmed.demo_data
"""


def write(out_dir: Path, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Path:
    """Write ``reports.jsonl``, ``task.yaml`` and ``README.md`` into ``out_dir``, each
    atomically; return the path of ``reports.jsonl``."""
    records = generate(n, seed)
    return write_example(out_dir, "reports.jsonl", records, task_yaml(), readme(records, n, seed))
