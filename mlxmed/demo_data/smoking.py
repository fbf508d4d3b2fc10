"""Synthetic discharge-summary snippets labelled with smoking status (i2b2 2006 definitions).

Every note is invented: names, dates and numbers are random draws from small word lists and
ranges. The gold label is fully determined by the text:

* ``CURRENT SMOKER``: smokes now, or the note says the patient quit less than a year before the
  admission date (e.g. "quit 3 months ago", or "quit in June 2018" in a March 2019 note).
* ``PAST SMOKER``: quit more than a year before admission. A bare "former smoker", "ex-smoker"
  or "remote smoking history" with no date is labelled PAST (the usual i2b2 annotation practice).
* ``SMOKER``: smoked, but the note gives no hint whether the patient still smokes
  ("40 pack-year history", "tobacco use" in a risk-factor list).
* ``NON-SMOKER``: the note says the patient never smoked / denies tobacco.
* ``UNKNOWN``: the patient's own tobacco use is not mentioned at all. Such notes may still talk
  about a relative's smoking, alcohol and drugs, packed red cells, or a job the patient quit.

Quit statements never sit near the one-year boundary: relative ones say 1-10 months (CURRENT)
or 14+ months (PAST); a month-and-year quit date is 2-10 or 14+ months before the admission
date printed in the note header; a bare year is at least two calendar years back (PAST).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from mlxmed.demo_data.files import write_example

LABELS = ("CURRENT SMOKER", "PAST SMOKER", "SMOKER", "NON-SMOKER", "UNKNOWN")
TARGET_SHARE = {
    "UNKNOWN": 0.63,
    "NON-SMOKER": 0.17,
    "PAST SMOKER": 0.09,
    "CURRENT SMOKER": 0.09,
    "SMOKER": 0.025,
}
DEFAULT_N = 700
DEFAULT_SEED = 2006
MIN_WORDS, MAX_WORDS = 120, 350

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
MALE_NAMES = (
    "Arthur", "Bernard", "Calvin", "Dennis", "Eugene", "Frank", "Gordon", "Harold", "Isaac",
    "Jerome", "Kenneth", "Leonard", "Marvin", "Nolan", "Oscar", "Percy", "Raymond", "Stanley",
    "Theodore", "Victor", "Walter", "Luis", "Tomasz", "Ahmed", "Kwame", "Hiro",
)
FEMALE_NAMES = (
    "Agnes", "Beatrice", "Carla", "Doris", "Edna", "Florence", "Gloria", "Helen", "Irene",
    "Judith", "Lorraine", "Marian", "Nadine", "Opal", "Pauline", "Rosa", "Sylvia", "Thelma",
    "Vera", "Wanda", "Yolanda", "Mei", "Priya", "Ingrid", "Fatima", "Olga",
)
SURNAMES = (
    "Abernathy", "Brockman", "Castellano", "Dunmore", "Eckhart", "Fairweather", "Galloway",
    "Hollis", "Ingram", "Jablonski", "Kettering", "Lindqvist", "Marchetti", "Northcott",
    "Okafor", "Pemberton", "Quintero", "Rasmussen", "Stavros", "Thorncroft", "Underhill",
    "Valdivia", "Whitcombe", "Yamasaki", "Zielinski", "Barros", "Coulter", "Delacroix",
)
FAMILY_WORDS = (
    "father", "mother", "brother", "sister", "husband", "wife", "son", "daughter", "parents",
    "uncle", "aunt", "grandfather", "grandmother", "partner", "roommate", "family", "fh",
)

# Each scenario: chief complaint, narrative and terse HPI, past history, medications, labs,
# vitals, narrative and terse hospital course, discharge diagnosis.
SCENARIOS: tuple[dict, ...] = (
    {
        "cc": "Chest pain.",
        "hpi": (
            "{age}-year-old {sex} with hypertension and hyperlipidemia presented with two hours "
            "of substernal chest pressure radiating to the left arm, associated with diaphoresis. "
            "Troponin was elevated on arrival and the ECG showed lateral ST depressions."
        ),
        "hpi_t": "{age}{s} w/ HTN, HLD, p/w substernal CP x2h, diaphoretic. Trop up, ST dep V4-V6.",
        "pmh": ["Hypertension", "Hyperlipidemia", "Type 2 diabetes mellitus"],
        "meds": [
            "Aspirin 81 mg daily", "Atorvastatin 80 mg nightly", "Metoprolol tartrate 25 mg BID",
            "Clopidogrel 75 mg daily", "Lisinopril 10 mg daily",
        ],
        "labs": "Troponin I {trop} ng/mL, LDL {ldl} mg/dL, HbA1c {a1c}%, creatinine {cr} mg/dL.",
        "course": (
            "{He_she} was started on heparin and taken for cardiac catheterization, which showed "
            "a {pct}% stenosis of the left circumflex artery treated with a drug-eluting stent. "
            "Echocardiogram showed an ejection fraction of {ef}%. Pain resolved after the "
            "procedure."
        ),
        "course_t": "Heparin gtt -> cath: {pct}% LCx, DES x1. TTE EF {ef}%. CP resolved.",
        "dx": "Non-ST-elevation myocardial infarction",
    },
    {
        "cc": "Shortness of breath and leg swelling.",
        "hpi": (
            "{age}-year-old {sex} with ischemic cardiomyopathy reports one week of worsening "
            "dyspnea on exertion, three-pillow orthopnea and a weight gain of {kg} kg. "
            "{He_she} admits to eating more salty food over the holidays."
        ),
        "hpi_t": "{age}{s} w/ ICM, EF {ef}%, 1 wk DOE, orthopnea, +{kg} kg, dietary indiscretion.",
        "pmh": ["Ischemic cardiomyopathy", "Chronic kidney disease stage 3", "Gout"],
        "meds": [
            "Furosemide 40 mg BID", "Carvedilol 12.5 mg BID", "Sacubitril-valsartan 49/51 mg BID",
            "Spironolactone 25 mg daily", "Allopurinol 100 mg daily",
        ],
        "labs": (
            "BNP {bnp} pg/mL, sodium {na} mmol/L, potassium {kpot} mmol/L, creatinine {cr} mg/dL."
        ),
        "course": (
            "{He_she} was diuresed with intravenous furosemide with a net negative balance of "
            "about {l} liters. Renal function remained stable and {he_she} returned to "
            "{his_her} dry weight before discharge."
        ),
        "course_t": "IV Lasix, net -{l} L. Cr stable. Back to dry wt.",
        "dx": "Acute on chronic systolic heart failure",
    },
    {
        "cc": "Cough and wheezing.",
        "hpi": (
            "{age}-year-old {sex} with COPD on home inhalers presented with four days of "
            "productive cough, increased sputum purulence and wheezing. Oxygen saturation was "
            "{sat}% on room air."
        ),
        "hpi_t": "{age}{s} w/ COPD, 4d prod cough, purulent sputum, wheeze. SpO2 {sat}% RA.",
        "pmh": ["Chronic obstructive pulmonary disease", "Hypertension", "Osteoporosis"],
        "meds": [
            "Tiotropium 18 mcg inhaled daily", "Fluticasone-salmeterol 250/50 one puff BID",
            "Albuterol 2 puffs q4h PRN", "Prednisone 40 mg daily x 5 days",
            "Azithromycin 250 mg daily",
        ],
        "labs": "WBC {wbc} K/uL, venous pH 7.{ph}, pCO2 {pco2} mmHg, chest film clear.",
        "course": (
            "{He_she} was treated with nebulized bronchodilators, systemic steroids and a course "
            "of azithromycin. Oxygen was weaned to room air by hospital day three."
        ),
        "course_t": "Nebs, pred, azithro. Weaned to RA HD3.",
        "dx": "COPD exacerbation",
    },
    {
        "cc": "Fever and cough.",
        "hpi": (
            "{age}-year-old {sex} presented with three days of fever to {temp} F, rigors and a "
            "cough productive of rusty sputum. Chest radiograph showed a right lower lobe "
            "consolidation."
        ),
        "hpi_t": "{age}{s} w/ 3d fever {temp}F, rigors, cough. CXR RLL consolidation.",
        "pmh": ["Hypothyroidism", "Hypertension", "Depression"],
        "meds": [
            "Ceftriaxone 1 g IV daily", "Azithromycin 500 mg daily", "Levothyroxine 75 mcg daily",
            "Amlodipine 5 mg daily", "Sertraline 50 mg daily",
        ],
        "labs": "WBC {wbc} K/uL, procalcitonin {pct_l} ng/mL, lactate {lac} mmol/L.",
        "course": (
            "Blood cultures remained negative. {He_she} defervesced within 48 hours on "
            "ceftriaxone and azithromycin and was transitioned to oral cefpodoxime."
        ),
        "course_t": "BCx neg. Afebrile by 48h on CTX/azithro -> PO cefpodoxime.",
        "dx": "Community-acquired pneumonia",
    },
    {
        "cc": "Nausea, vomiting and high blood sugar.",
        "hpi": (
            "{age}-year-old {sex} with type 1 diabetes ran out of insulin four days ago and "
            "developed polyuria, vomiting and abdominal pain. Glucose on arrival was {glu} mg/dL "
            "with an anion gap of {gap}."
        ),
        "hpi_t": "{age}{s} w/ DM1, out of insulin x4d, N/V, polyuria. BG {glu}, AG {gap}.",
        "pmh": ["Type 1 diabetes mellitus", "Diabetic retinopathy", "Celiac disease"],
        "meds": [
            "Insulin glargine 22 units nightly", "Insulin lispro sliding scale with meals",
            "Lisinopril 5 mg daily", "Ondansetron 4 mg q8h PRN",
        ],
        "labs": "Glucose {glu} mg/dL, bicarbonate {bic} mmol/L, beta-hydroxybutyrate {bhb} mmol/L.",
        "course": (
            "{He_she} was managed on the insulin infusion protocol with aggressive fluids. The "
            "gap closed within {h} hours and {he_she} was bridged to subcutaneous insulin. "
            "Diabetes education was reinforced."
        ),
        "course_t": "Insulin gtt + IVF, gap closed in {h}h, bridged to SQ. DM teaching done.",
        "dx": "Diabetic ketoacidosis",
    },
    {
        "cc": "Red, painful left leg.",
        "hpi": (
            "{age}-year-old {sex} noticed redness and warmth of the left shin three days ago "
            "that spread despite oral cephalexin. {He_she} reports subjective fevers."
        ),
        "hpi_t": "{age}{s}, L shin erythema/warmth x3d, failed PO keflex, subj fevers.",
        "pmh": ["Obesity", "Venous stasis", "Type 2 diabetes mellitus"],
        "meds": [
            "Cefazolin 2 g IV q8h", "Metformin 1000 mg BID", "Enoxaparin 40 mg SC daily",
            "Acetaminophen 650 mg q6h PRN",
        ],
        "labs": "WBC {wbc} K/uL, CRP {crp} mg/L, lower-extremity duplex negative for DVT.",
        "course": (
            "The erythema was marked and receded steadily on intravenous cefazolin. {He_she} "
            "was switched to oral cephalexin to complete a ten-day course."
        ),
        "course_t": "IV cefazolin, erythema receding. -> PO cephalexin, 10d total.",
        "dx": "Cellulitis of the left lower extremity",
    },
    {
        "cc": "Palpitations.",
        "hpi": (
            "{age}-year-old {sex} felt a racing, irregular heartbeat since the morning of "
            "admission. ECG showed atrial fibrillation with a ventricular rate of {hr}."
        ),
        "hpi_t": "{age}{s} palpitations since AM, ECG AF w/ RVR {hr}.",
        "pmh": ["Hypertension", "Obstructive sleep apnea", "Hyperlipidemia"],
        "meds": [
            "Diltiazem ER 180 mg daily", "Apixaban 5 mg BID", "Atorvastatin 40 mg daily",
            "Losartan 50 mg daily",
        ],
        "labs": "TSH {tsh} mIU/L, K {kpot} mmol/L, magnesium {mg} mg/dL, troponin negative.",
        "course": (
            "Rate was controlled with intravenous then oral diltiazem. CHA2DS2-VASc score was "
            "{chads} and apixaban was started. Echocardiogram showed a normal ejection fraction."
        ),
        "course_t": "Dilt IV -> PO, rate controlled. CHA2DS2-VASc {chads}, started apixaban.",
        "dx": "Atrial fibrillation with rapid ventricular response",
    },
    {
        "cc": "Black stools.",
        "hpi": (
            "{age}-year-old {sex} taking naproxen for knee pain reports three days of melena and "
            "lightheadedness. Hemoglobin was {hgb} g/dL, down from a baseline of 13."
        ),
        "hpi_t": "{age}{s} on naproxen, melena x3d, lightheaded. Hgb {hgb} (baseline 13).",
        "pmh": ["Osteoarthritis", "Hypertension", "Benign prostatic hyperplasia"],
        "meds": [
            "Pantoprazole 40 mg IV BID", "Acetaminophen 1 g TID", "Amlodipine 10 mg daily",
            "Ferrous sulfate 325 mg daily",
        ],
        "labs": "Hemoglobin {hgb} g/dL, BUN {bun} mg/dL, INR 1.{inr}, platelets {plt} K/uL.",
        "course": (
            "{He_she} received two units of packed red blood cells. Upper endoscopy showed a "
            "clean-based duodenal ulcer. Naproxen was stopped and the hemoglobin remained stable."
        ),
        "course_t": "2u pRBC (packed red cells). EGD: clean-based DU. NSAID stopped, Hgb stable.",
        "dx": "Upper gastrointestinal bleed from duodenal ulcer",
    },
    {
        "cc": "Sudden right-sided weakness.",
        "hpi": (
            "{age}-year-old {sex} was found by family with right arm and leg weakness and "
            "slurred speech, last known well {h} hours earlier. CT angiography showed no large "
            "vessel occlusion."
        ),
        "hpi_t": "{age}{s} R hemiparesis + dysarthria, LKW {h}h. CTA no LVO. NIHSS {nihss}.",
        "pmh": ["Hypertension", "Atrial fibrillation off anticoagulation", "Hyperlipidemia"],
        "meds": [
            "Aspirin 325 mg once then apixaban 5 mg BID", "Atorvastatin 80 mg daily",
            "Lisinopril 20 mg daily",
        ],
        "labs": "LDL {ldl} mg/dL, HbA1c {a1c}%, MRI with a small left internal capsule infarct.",
        "course": (
            "{He_she} was outside the thrombolysis window. Deficits improved with physical "
            "therapy. Anticoagulation was started on day four after repeat imaging."
        ),
        "course_t": "Outside tPA window. PT/OT, deficits improving. Apixaban started D4.",
        "dx": "Acute ischemic stroke",
    },
    {
        "cc": "Flank pain and fever.",
        "hpi": (
            "{age}-year-old {sex} with recurrent urinary tract infections presented with right "
            "flank pain, dysuria and fever to {temp} F. Blood pressure was {sbp}/{dbp}."
        ),
        "hpi_t": "{age}{s} w/ recurrent UTI, R flank pain, dysuria, T {temp}F, BP {sbp}/{dbp}.",
        "pmh": ["Recurrent urinary tract infections", "Nephrolithiasis", "Hypothyroidism"],
        "meds": [
            "Ceftriaxone 1 g IV daily", "Levothyroxine 50 mcg daily", "Tamsulosin 0.4 mg daily",
        ],
        "labs": "WBC {wbc} K/uL, lactate {lac} mmol/L, urine culture with pan-sensitive E. coli.",
        "course": (
            "{He_she} received fluids and ceftriaxone. Renal ultrasound showed no obstruction. "
            "{He_she} completed therapy with oral ciprofloxacin."
        ),
        "course_t": "IVF + CTX. RUS no hydro. -> PO cipro to finish 7d.",
        "dx": "Pyelonephritis with sepsis",
    },
    {
        "cc": "Elective right total knee arthroplasty.",
        "hpi": (
            "{age}-year-old {sex} with severe right knee osteoarthritis refractory to injections "
            "was admitted for an elective total knee arthroplasty."
        ),
        "hpi_t": "{age}{s} w/ severe R knee OA, failed injections, admitted for elective TKA.",
        "pmh": ["Osteoarthritis", "Hypertension", "GERD"],
        "meds": [
            "Oxycodone 5 mg q4h PRN", "Enoxaparin 40 mg SC daily x 14 days",
            "Acetaminophen 1 g q8h", "Omeprazole 20 mg daily",
        ],
        "labs": "Postoperative hemoglobin {hgb} g/dL, creatinine {cr} mg/dL.",
        "course": (
            "Surgery was uncomplicated. {He_she} worked with physical therapy from day one and "
            "reached {deg} degrees of flexion by discharge."
        ),
        "course_t": "TKA uncomplicated. PT POD1, flexion {deg} deg at d/c.",
        "dx": "Right knee osteoarthritis, status post total knee arthroplasty",
    },
    {
        "cc": "Pleuritic chest pain.",
        "hpi": (
            "{age}-year-old {sex} returning from a long flight developed pleuritic chest pain "
            "and tachycardia to {hr}. CT pulmonary angiography showed a right segmental embolus."
        ),
        "hpi_t": "{age}{s} s/p long flight, pleuritic CP, HR {hr}. CTPA: R segmental PE.",
        "pmh": ["Migraine", "Obesity"],
        "meds": [
            "Apixaban 10 mg BID x 7 days then 5 mg BID", "Sumatriptan 50 mg PRN",
            "Ibuprofen stopped",
        ],
        "labs": "D-dimer {dd} ng/mL, troponin negative, BNP {bnp} pg/mL.",
        "course": (
            "Right ventricular size was normal on echo. {He_she} was started on apixaban and "
            "remained hemodynamically stable."
        ),
        "course_t": "TTE: RV normal. Apixaban started. HD stable.",
        "dx": "Acute pulmonary embolism",
    },
    {
        "cc": "Epigastric pain.",
        "hpi": (
            "{age}-year-old {sex} with gallstones developed severe epigastric pain radiating to "
            "the back after a fatty meal. Lipase was {lip} U/L."
        ),
        "hpi_t": "{age}{s} w/ cholelithiasis, severe epigastric pain -> back. Lipase {lip}.",
        "pmh": ["Cholelithiasis", "Hyperlipidemia", "Anxiety"],
        "meds": [
            "Lactated Ringer's infusion", "Hydromorphone 0.5 mg IV q3h PRN",
            "Ondansetron 4 mg IV q6h PRN", "Escitalopram 10 mg daily",
        ],
        "labs": "Lipase {lip} U/L, ALT {alt} U/L, total bilirubin 1.{bili} mg/dL.",
        "course": (
            "{He_she} improved with fluids and analgesia and tolerated a low-fat diet. "
            "Laparoscopic cholecystectomy was performed before discharge."
        ),
        "course_t": "IVF, pain ctrl, diet advanced. Lap chole HD4.",
        "dx": "Gallstone pancreatitis",
    },
    {
        "cc": "Passed out at home.",
        "hpi": (
            "{age}-year-old {sex} lost consciousness briefly while standing up from the dinner "
            "table, with no seizure activity. Orthostatic vital signs were positive."
        ),
        "hpi_t": "{age}{s} brief LOC on standing, no sz activity. Orthostatics positive.",
        "pmh": ["Hypertension", "Parkinson disease", "Chronic kidney disease stage 3"],
        "meds": [
            "Carbidopa-levodopa 25/100 TID", "Hydrochlorothiazide stopped",
            "Midodrine 5 mg TID",
        ],
        "labs": "Creatinine {cr} mg/dL, hemoglobin {hgb} g/dL, telemetry without arrhythmia.",
        "course": (
            "Telemetry was unremarkable. Hydrochlorothiazide was stopped and compression "
            "stockings were prescribed. {He_she} had no recurrence."
        ),
        "course_t": "Tele unremarkable. HCTZ d/c'd, compression stockings. No recurrence.",
        "dx": "Orthostatic syncope",
    },
    {
        "cc": "Decreased urine output.",
        "hpi": (
            "{age}-year-old {sex} with diabetes had several days of diarrhea while continuing "
            "lisinopril and metformin, then noticed little urine output. Creatinine was {cr} "
            "mg/dL from a baseline of 1.0."
        ),
        "hpi_t": "{age}{s} w/ DM, diarrhea several days on ACEi + metformin, oliguria. Cr {cr}.",
        "pmh": ["Type 2 diabetes mellitus", "Hypertension", "Diverticulosis"],
        "meds": [
            "Lisinopril held", "Metformin held", "Insulin glargine 10 units nightly",
            "Normal saline infusion",
        ],
        "labs": "Creatinine {cr} mg/dL, potassium {kpot} mmol/L, bicarbonate {bic} mmol/L.",
        "course": (
            "With fluids and holding nephrotoxic medications the creatinine improved to 1.{inr} "
            "mg/dL. Metformin was resumed at discharge, lisinopril remained on hold."
        ),
        "course_t": "IVF, ACEi/metformin held. Cr -> 1.{inr}. Resume metformin, hold ACEi.",
        "dx": "Prerenal acute kidney injury",
    },
)

AGE_RANGE = {
    "Diabetic ketoacidosis": (19, 58),
    "Acute pulmonary embolism": (22, 74),
    "Community-acquired pneumonia": (28, 90),
    "Cellulitis of the left lower extremity": (30, 85),
    "Right knee osteoarthritis, status post total knee arthroplasty": (52, 86),
    "Gallstone pancreatitis": (30, 80),
}
EXTRA_PROBLEMS = (
    ("Hypertension: home regimen continued, blood pressure {sbp2}/{dbp2} at discharge.",
     "#HTN: home meds, BP {sbp2}/{dbp2} at d/c."),
    ("Diabetes: managed with basal-bolus insulin, glucose 110-{glu2} mg/dL.",
     "#DM: basal/bolus, BG 110-{glu2}."),
    ("Hypokalemia was repleted orally.", "#Hypokalemia: repleted PO."),
    ("Deep vein thrombosis prophylaxis with subcutaneous heparin.", "#PPx: SQH."),
    ("Physical therapy evaluated {him_her} and recommended a rolling walker.",
     "#Deconditioning: PT -> rolling walker."),
    ("Delirium overnight on day two resolved with reorientation and sleep hygiene.",
     "#Delirium HD2, resolved w/ nonpharm measures."),
    ("Chronic kidney disease: creatinine at baseline, renally dosed medications.",
     "#CKD: Cr at baseline, meds renally dosed."),
    ("Code status was discussed and {he_she} remains full code.", "Code: FULL."),
)
SOCIAL_LIVING = (
    "Lives with {his_her} {spouse} in a two-story house.",
    "Lives alone; daughter checks in daily.",
    "Lives with {his_her} son's family.",
    "Resides in an assisted-living facility.",
)
SOCIAL_WORK = (
    "Retired {job}.",
    "Works part-time as {a_job}.",
    "Semi-retired {job}.",
    "Works night shifts as {a_job}.",
    "Retired from work as {a_job} {wine} years ago.",
    "Works as {a_job}.",
    "Former {job}, now on disability.",
    "{He_she} recently quit {his_her} job as {a_job} to care for a grandchild.",
)
SOCIAL_ALCOHOL = (
    "Drinks {wine} glasses of wine per week.",
    "Occasional beer on weekends.",
    "No alcohol.",
    "Denies alcohol or illicit drug use.",
)
SOCIAL_OTHER = (
    "Denies illicit drugs.",
    "Independent in activities of daily living.",
    "Walks with a cane.",
    "Exercises by swimming twice a week.",
)
SOCIAL_TERSE = (
    ("Lives w/ {spouse}.", "Lives alone.", "Lives in ALF."),
    ("Retired {job}.", "Works as {a_job}.", "Unemployed, former {job}.", "Occupation: {job}.",
     "Retired.", "Works FT as {a_job}."),
    ("EtOH: social.", "EtOH: none.", "EtOH: {wine} drinks/wk.", "Denies EtOH/illicits."),
    ("Illicits: denies.", "IVDU: never.", "Independent ADLs.", "Ambulates w/ walker."),
)
JOBS = (
    "machinist", "teacher", "bus driver", "nurse", "accountant", "electrician", "farmer",
    "postal worker", "chef", "librarian", "carpenter", "police officer", "pharmacist",
)
FAMILY_PLAIN = (
    "Mother with type 2 diabetes.", "Father died of a stroke at {k}.",
    "Brother with coronary artery disease.", "Sister with breast cancer.",
    "No family history of premature coronary disease.", "Parents both lived into their 90s.",
    "Father had colon cancer.", "Mother with hypertension and dementia.",
)
FAMILY_SMOKE = (
    "Father was a heavy smoker and died of lung cancer at {k}.",
    "Mother smoked two packs a day and had emphysema.",
    "Father with MI at {k}; he smoked for many years.",
    "Brother with COPD, a lifelong smoker.",
    "Grandfather died of throat cancer; he chewed tobacco.",
)
HOUSEHOLD_SMOKE = (
    "{His_her} {spouse} smokes at home.",
    "Exposed to secondhand smoke from {his_her} {spouse}.",
)


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _month_back(d: date, months: int) -> date:
    idx = d.year * 12 + d.month - 1 - months
    return date(idx // 12, idx % 12 + 1, 1)


def _smoking_sentence(label: str, adm: date, age: int, p: dict, rng: random.Random) -> str:
    """One sentence that states the patient's own smoking status, per ``label``."""
    k = rng.randint
    cap = max(2, age - 16)

    def yrs(lo: int, hi: int) -> int:
        """Years of smoking that fit the patient's age."""
        return k(min(lo, cap), min(hi, cap))

    if label == "CURRENT SMOKER":
        options = [
            lambda: f"Smokes {rng.choice(['1', '1/2', '1.5', '2'])} ppd for {yrs(5, 45)} years.",
            lambda: f"Current smoker, approximately {k(10, 60)} pack-years.",
            lambda: f"{p['He_she']} smokes about {k(5, 30)} cigarettes per day.",
            lambda: f"Active tobacco use, {rng.choice(['half a pack', 'one pack'])} daily.",
            lambda: f"Continues to smoke {k(5, 20)} cigarettes a day despite prior counselling.",
            lambda: f"Quit smoking {k(1, 9)} months ago.",
            lambda: f"Stopped smoking {k(2, 8)} weeks ago after {p['his_her']} last admission.",
            lambda: f"No longer smokes; quit {k(2, 9)} weeks before this admission.",
            lambda: (
                f"{p['He_she']} tried to quit in {adm.year - k(1, 5)} but relapsed and "
                f"currently smokes {k(5, 20)} cigarettes daily."
            ),
            lambda: (
                f"Has cut down to {k(3, 8)} cigarettes a day and is contemplating quitting."
            ),
            lambda: f"Tobacco: 1 ppd x {yrs(5, 40)} yrs, still smoking.",
        ]
        quit = _month_back(adm, k(2, 10))
        options.append(
            lambda: f"Quit smoking in {MONTHS[quit.month - 1]} {quit.year}."
        )
        if adm.month >= 8:
            options.append(lambda: "Stopped smoking last spring.")
        return rng.choice(options)()
    if label == "PAST SMOKER":
        span = max(3, min(30, age - 18))  # years since quitting stay plausible for the age
        quit = _month_back(adm, k(14, 12 * span))
        options = [
            lambda: "Former smoker.",
            lambda: f"Ex-smoker, quit {k(2, span)} years ago.",
            lambda: f"Quit smoking in {adm.year - k(2, span)}.",
            lambda: f"Quit tobacco in {MONTHS[quit.month - 1]} {quit.year}.",
            lambda: (
                f"Remote tobacco history ({k(5, 40)} pack-years), quit {k(2, span)} years ago."
            ),
            lambda: (
                f"Smoked {rng.choice(['1', '2'])} ppd for {yrs(3, 30)} years, stopped "
                f"{k(2, span)} years ago."
            ),
            lambda: f"No longer smokes; gave up cigarettes {k(2, span)} years ago.",
            lambda: f"Quit smoking {k(14, 36)} months ago.",
            lambda: "Remote smoking history.",
            lambda: f"Former smoker ({k(10, 50)} pack-years), quit in {adm.year - k(2, span)}.",
        ]
        if age >= 45:
            options.append(
                lambda: f"{p['He_she']} smoked in {p['his_her']} twenties and has not since."
            )
        return rng.choice(options)()
    if label == "SMOKER":
        return rng.choice([
            lambda: f"{k(20, 80)} pack-year smoking history.",
            lambda: f"{k(10, 60)} pack-year history of tobacco use.",
            lambda: "Positive smoking history.",
            lambda: "Significant tobacco history.",
            lambda: "Tobacco use: positive.",
            lambda: "History of cigarette smoking.",
            lambda: f"Smoking history of about {k(15, 50)} pack-years.",
        ])()
    if label == "NON-SMOKER":
        return rng.choice([
            "Never smoker.", "Denies tobacco use.", "Tobacco: none.", "Never used tobacco.",
            "Nonsmoker.", "Lifelong non-smoker.", f"{p['He_she']} has never smoked.",
            "No history of tobacco use.", "Tob: never.", "Denies tobacco, alcohol or drugs.",
            "Non-smoker, no alcohol.", "Has never smoked cigarettes.",
        ])
    raise ValueError(label)


def _risk_factor_sentence(rng: random.Random) -> str:
    """A SMOKER phrasing used inside an assessment: tobacco as a cardiac risk factor."""
    return rng.choice([
        "Cardiac risk factors: hypertension, hyperlipidemia and tobacco use.",
        "Risk factors include diabetes, obesity and a smoking history.",
    ])


def _fill(template: str, v: dict) -> str:
    return template.format(**v)


def _note(label: str, idx: int, rng: random.Random) -> str:
    """Build one discharge-summary snippet whose smoking status is ``label``."""
    male = rng.random() < 0.5
    first = rng.choice(MALE_NAMES if male else FEMALE_NAMES)
    last = rng.choice(SURNAMES)
    sc = rng.choice(SCENARIOS)
    age = rng.randint(*AGE_RANGE.get(sc["dx"], (45, 92)))
    adm = date(2004, 1, 1) + timedelta(days=rng.randrange(0, 365 * 19))
    dis = adm + timedelta(days=rng.randint(2, 9))
    p = {
        "He_she": "He" if male else "She", "he_she": "he" if male else "she",
        "his_her": "his" if male else "her", "His_her": "His" if male else "Her",
        "him_her": "him" if male else "her",
        "spouse": rng.choice(["wife", "partner"] if male else ["husband", "partner"]),
    }
    terse = rng.random() < 0.35
    r = rng.randint
    v = dict(p)
    v.update(
        age=age, sex=("man" if male else "woman"), s=("M" if male else "F"), kg=r(2, 6),
        ef=r(20, 65), pct=r(70, 99), trop=f"{r(1, 40) / 10:.1f}", ldl=r(70, 190),
        a1c=f"{r(55, 110) / 10:.1f}", cr=f"{r(8, 45) / 10:.1f}", bnp=r(300, 3500),
        na=r(128, 144), kpot=f"{r(32, 55) / 10:.1f}", wine=r(2, 10), l=r(3, 9), sat=r(84, 93),
        wbc=r(11, 24),
        ph=r(28, 38), pco2=r(42, 68), temp=f"{r(1005, 1039) / 10:.1f}",
        pct_l=f"{r(2, 90) / 10:.1f}", lac=f"{r(10, 45) / 10:.1f}", glu=r(380, 790),
        gap=r(18, 32), bic=r(6, 16), bhb=f"{r(30, 80) / 10:.1f}", h=r(4, 16), crp=r(30, 240),
        hr=r(118, 168), tsh=f"{r(5, 40) / 10:.1f}", mg=f"{r(15, 24) / 10:.1f}",
        chads=r(1, 5), hgb=f"{r(62, 99) / 10:.1f}", bun=r(30, 80), inr=r(0, 4),
        plt=r(140, 390), nihss=r(2, 9), sbp=r(84, 110), dbp=r(44, 68), deg=r(85, 110),
        dd=r(900, 4200), lip=r(600, 4500), alt=r(40, 320), bili=r(0, 9), sbp2=r(112, 148),
        dbp2=r(62, 88), glu2=r(150, 240),
    )
    job = rng.choice(JOBS)
    v["job"] = job
    v["a_job"] = ("an " if job[0] in "aeiou" else "a ") + job

    # Where does the smoking statement go?
    smoke_sentence = ""
    if label != "UNKNOWN":
        smoke_sentence = _smoking_sentence(label, adm, age, p, rng)
    has_social = rng.random() < (0.8 if label != "UNKNOWN" else 0.6)
    place = "social" if has_social else rng.choice(["hpi", "course"])
    if label != "UNKNOWN" and has_social and rng.random() < 0.12:
        place = rng.choice(["hpi", "course"])

    # Sections.
    hpi = _fill(sc["hpi_t"] if terse else sc["hpi"], v)
    course = _fill(sc["course_t"] if terse else sc["course"], v)
    for extra in rng.sample(EXTRA_PROBLEMS, rng.choice([0, 1, 1, 2, 3, 4])):
        course += " " + _fill(extra[1] if terse else extra[0], v)
    pmh = list(sc["pmh"])
    rng.shuffle(pmh)
    meds = list(sc["meds"])
    if label == "CURRENT SMOKER" and rng.random() < 0.4:
        meds.append(rng.choice(["Nicotine patch 21 mg/24 h daily", "Nicotine gum 2 mg PRN"]))
        if place != "course" and rng.random() < 0.6:
            course += " Smoking cessation counselling was provided."
    pools = SOCIAL_TERSE if terse else (SOCIAL_LIVING, SOCIAL_WORK, SOCIAL_ALCOHOL, SOCIAL_OTHER)
    social_bits = [_fill(rng.choice(pool), v) for pool in pools if rng.random() < 0.8]
    if not social_bits or (label == "UNKNOWN" and rng.random() < 0.3):
        social_bits = [_fill(rng.choice(pools[0]), v), "Denies alcohol or illicit drug use."]
    if label in ("UNKNOWN", "NON-SMOKER") and rng.random() < 0.08:
        social_bits.append(_fill(rng.choice(HOUSEHOLD_SMOKE), v))
    family_bits = [_fill(t, {"k": r(48, 79)}) for t in rng.sample(FAMILY_PLAIN, 2)]
    if rng.random() < (0.22 if label in ("UNKNOWN", "NON-SMOKER") else 0.12):
        family_bits.insert(rng.randint(0, 2), _fill(rng.choice(FAMILY_SMOKE), {"k": r(48, 79)}))
    if label == "SMOKER" and rng.random() < 0.3:
        smoke_sentence = _risk_factor_sentence(rng)
        place = rng.choice(["hpi", "course"])
    if smoke_sentence:
        if place == "social":
            social_bits.insert(rng.randint(0, len(social_bits)), smoke_sentence)
        elif place == "hpi":
            hpi += " " + smoke_sentence
        else:
            course += " " + smoke_sentence
    exam = (
        f"T {v['temp'] if sc['cc'].startswith('Fever') else '98.' + str(r(0, 9))}, "
        f"HR {r(58, 112)}, BP {r(100, 168)}/{r(55, 98)}, RR {r(12, 24)}, SpO2 {r(90, 99)}%."
    )
    dispo = rng.choice([
        "Home with services.", "Discharged home in stable condition.",
        "To skilled nursing facility for rehabilitation.", "Home, follow up with PCP in 1 week.",
        f"Home. Follow-up with Dr. {rng.choice(SURNAMES)} in clinic in 2 weeks.",
    ])
    allergies = rng.choice(["NKDA.", "Penicillin (rash).", "Sulfa drugs.", "Codeine (nausea)."])

    if terse:
        names = {
            "cc": "CC", "hpi": "HPI", "pmh": "PMH", "meds": "Meds", "all": "All",
            "social": "SH", "family": "FH", "exam": "Exam", "labs": "Labs",
            "course": "Hosp course", "dispo": "Dispo", "dx": "Dx",
        }
    else:
        names = {
            "cc": "CHIEF COMPLAINT", "hpi": "HISTORY OF PRESENT ILLNESS",
            "pmh": "PAST MEDICAL HISTORY", "meds": "MEDICATIONS ON DISCHARGE",
            "all": "ALLERGIES", "social": "SOCIAL HISTORY", "family": "FAMILY HISTORY",
            "exam": "PHYSICAL EXAMINATION", "labs": "PERTINENT LABS",
            "course": "HOSPITAL COURSE", "dispo": "DISPOSITION", "dx": "DISCHARGE DIAGNOSIS",
        }
        if rng.random() < 0.4:
            names = {key: val.title() for key, val in names.items()}
            names["hpi"] = "HPI"
    bodies = {
        "cc": sc["cc"],
        "hpi": hpi,
        "pmh": (", ".join(pmh) + ".") if terse or rng.random() < 0.5
        else "\n".join(f"{i + 1}. {x}" for i, x in enumerate(pmh)),
        "meds": "; ".join(meds) + "." if terse or rng.random() < 0.4
        else "\n".join(f"- {m}" for m in meds),
        "all": allergies,
        "social": " ".join(social_bits),
        "family": " ".join(family_bits),
        "exam": exam,
        "labs": _fill(sc["labs"], v),
        "course": course,
        "dispo": dispo,
        "dx": sc["dx"] + ".",
    }
    orders = (
        ["cc", "hpi", "pmh", "meds", "all", "social", "family", "exam", "labs", "course", "dx",
         "dispo"],
        ["cc", "hpi", "pmh", "social", "family", "all", "meds", "exam", "labs", "course",
         "dispo"],
        ["dx", "hpi", "pmh", "family", "social", "course", "labs", "meds", "dispo"],
        ["cc", "hpi", "social", "pmh", "course", "meds", "dispo"],
    )
    order = list(rng.choice(orders))
    if not has_social:
        order = [s for s in order if s != "social"]
    elif "social" not in order:
        order.insert(2, "social")
    optional = [s for s in ("labs", "exam", "all", "family", "pmh") if s in order]
    rng.shuffle(optional)

    header_style = rng.randrange(3)
    mrn = f"{r(1000000, 9999999)}"
    if header_style == 0:
        header = (
            f"DISCHARGE SUMMARY\nPatient: {last}, {first}   MRN: {mrn}\n"
            f"Admission Date: {adm:%m/%d/%Y}   Discharge Date: {dis:%m/%d/%Y}\n"
            f"Attending: Dr. {rng.choice(SURNAMES)}"
        )
    elif header_style == 1:
        header = (
            f"Name: {first} {last} | Adm: {adm.isoformat()} | D/C: {dis.isoformat()} | "
            f"Service: Medicine"
        )
    else:
        header = (
            f"Discharge summary for {first} {last}, admitted "
            f"{MONTHS[adm.month - 1]} {adm.day}, {adm.year} and discharged "
            f"{MONTHS[dis.month - 1]} {dis.day}, {dis.year}."
        )

    rng_layout = rng.random() < 0.5

    def render(sections: list[str]) -> str:
        parts = [header]
        for s in sections:
            sep = "\n" if "\n" in bodies[s] or (not terse and rng_layout) else " "
            parts.append(f"{names[s]}:{sep}{bodies[s]}")
        return "\n\n".join(parts) if not terse else "\n".join(parts)

    text = render(order)
    while len(text.split()) > MAX_WORDS and optional:
        order.remove(optional.pop())
        text = render(order)
    return text


def _label_plan(n: int, rng: random.Random) -> list[str]:
    """Exact per-class counts close to the i2b2 2006 training distribution, shuffled."""
    smoker = max(round(TARGET_SHARE["SMOKER"] * n), min(20, n // 5))
    counts = {
        "CURRENT SMOKER": round(TARGET_SHARE["CURRENT SMOKER"] * n),
        "PAST SMOKER": round(TARGET_SHARE["PAST SMOKER"] * n),
        "NON-SMOKER": round(TARGET_SHARE["NON-SMOKER"] * n),
        "SMOKER": smoker,
    }
    counts["UNKNOWN"] = max(0, n - sum(counts.values()))
    plan = [label for label in LABELS for _ in range(counts[label])][:n]
    rng.shuffle(plan)
    return plan


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict]:
    """Return ``n`` synthetic notes as ``{"id", "text", "smoking_status"}`` dicts.

    Pure and deterministic: the same ``(n, seed)`` always gives the same records.
    """
    rng = random.Random(seed)
    records = []
    for i, label in enumerate(_label_plan(n, rng)):
        for _ in range(50):
            text = _note(label, i, rng)
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
                break
        records.append({"id": f"smk-{i + 1:04d}", "text": text, "smoking_status": label})
    return records


TASK_YAML = """\
# Smoking status of the patient, with the label definitions of the i2b2 2006 Smoking Challenge.
# Written by `python -m mlxmed.demo_data`; edit the generator, not this file.
name: smoking_status
kind: classification
language: en
system: "You are a careful clinical documentation specialist. You answer only from the note."
instruction: >-
  Read the excerpt of a discharge summary below and decide the smoking status of the patient,
  judged at the admission date of the note. Only the patient's own tobacco use counts: ignore
  smoking by relatives or other people, and ignore alcohol and drug history. Answer with the
  label only.
text_field: text
id_field: id
label_field: smoking_status
labels:
  - name: CURRENT SMOKER
    definition: >-
      The patient smokes now, or stopped less than one year before the note (for example
      "quit 3 months ago", or a quit date within the last year of the admission date).
  - name: PAST SMOKER
    definition: >-
      The patient smoked and stopped more than one year before the note. A former smoker or
      ex-smoker with no quit date counts as past smoker.
  - name: SMOKER
    definition: >-
      The patient has smoked, but the note does not say whether they still smoke or when they
      stopped (for example only "40 pack-year history").
  - name: NON-SMOKER
    definition: >-
      The note states that the patient has never smoked or does not use tobacco.
  - name: UNKNOWN
    definition: >-
      The note does not mention the patient's own smoking or tobacco use at all.
long_notes: truncate_middle
max_seq_length: 1024
# The model reads the note's header (its dates) and the sentences that mention tobacco, each
# with one sentence around it; a note with no such sentence says so. Terms match at the start
# of a word, in any case: "smok" finds "Smoker" and "non-smoker", "tob" finds "Tob:" but not
# "October". Widen the list if your notes use other words (e.g. "snuff", "vap").
focus:
  terms: [smok, nonsmok, tob, cig, nicotin, pack, ppd, pk]
  context: 1
  head: 3
"""


def readme(records: list[dict], n: int, seed: int) -> str:
    """The README of the example folder, with the class distribution of ``records``."""
    counts = {label: sum(r["smoking_status"] == label for r in records) for label in LABELS}
    rows = "\n".join(
        f"| {label} | {counts[label]} | {100 * counts[label] / len(records):.1f}% |"
        for label in LABELS
    )
    return f"""\
# Smoking status (synthetic, English)

{len(records)} synthetic discharge-summary snippets (`notes.csv`: `id,text,smoking_status`),
each labelled with the patient's smoking status under the i2b2 2006 Smoking Challenge
definitions (see `task.yaml`). Every note is generated: names, dates and values are random
draws, no real patient or record is involved.

| label | notes | share |
|---|---|---|
{rows}

The mix follows the challenge's training set. The notes include traps for keyword rules:
relatives who smoke, "quit 3 months ago" (still CURRENT), quit dates that must be compared
with the admission date, "Tobacco: none", a job the patient quit, packed red cells.
Rule used for "former smoker" / "ex-smoker" without a date: PAST SMOKER.

Regenerate (n={n}, seed={seed}) with:

    python -m mlxmed.demo_data
"""


def write(out_dir: Path, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Path:
    """Write ``notes.csv`` (``id,text,smoking_status``), ``task.yaml`` and ``README.md`` into
    ``out_dir``, each atomically; return the path of ``notes.csv``."""
    records = generate(n, seed)
    return write_example(out_dir, "notes.csv", records, TASK_YAML, readme(records, n, seed))
