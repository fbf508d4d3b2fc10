"""Synthetic English chest imaging reports labelled with the status of pneumonia on the study.

Every report is invented: names, dates, sizes and devices are random draws from word lists and
ranges. Chest radiographs (PA/lateral and portable), CT chest, CT angiography of the chest and
ED / admission note excerpts that quote the imaging read. The label is an assertion status of
pneumonia (or a synonym: consolidation, infiltrate, airspace disease or opacity consistent with
infection, bronchopneumonia, lobar / aspiration pneumonia, infectious process) and is fully
determined by the findings and impression of the current study:

* ``PRESENT``: pneumonia or a synonym is stated on the current study, including persistent,
  unchanged, worsening or "improving but persistent" pneumonia, and "no significant change in
  the consolidation". It stays PRESENT when another lobe or the other lung is called clear.
* ``ABSENT``: the current study explicitly negates pneumonia or a synonym ("no focal
  consolidation", "negative for infiltrate", "pneumonia is not seen", "free of consolidation")
  or says an earlier pneumonia has resolved / cleared, and nothing is called possible.
* ``POSSIBLE``: pneumonia is uncertain on the current study ("cannot be excluded", "possible",
  "questionable", "may represent", "suspicious for", "atelectasis versus pneumonia",
  "equivocal", "differential includes", "not excluded") and is nowhere stated as present; an
  explicit negation elsewhere ("no consolidation on the right") does not make it ABSENT.
* ``NOT MENTIONED``: the findings and impression do not address pneumonia or any synonym.

Priority when a report has several current-study statements: PRESENT > POSSIBLE > ABSENT.

Mentions outside the current study's findings and impression never decide the label: the
indication / reason for the exam ("r/o pneumonia", "?PNA", "eval for infiltrate"), the
patient's history ("history of pneumonia in 2019", "h/o RLL PNA") and what a prior study showed
("comparison: radiograph of ..., which showed right lower lobe pneumonia"). NOT MENTIONED
reports may carry a history mention but never an indication or comparison that names the
target, and they never use bare "lungs are clear", "no acute cardiopulmonary process" or
unexplained lung opacities, which clinicians read as statements about pneumonia. "Unlikely",
"probable" and "likely" are never used for the target. Negated and uncertain *other* findings
("no pleural effusion or pneumothorax", "possible small left effusion", "cannot exclude a tiny
nodule", "atelectasis versus scarring") occur in every class.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from pathlib import Path

from mlxmed.demo_data.files import write_example

LABELS = ("PRESENT", "ABSENT", "POSSIBLE", "NOT MENTIONED")
TARGET_SHARE = {"NOT MENTIONED": 0.42, "PRESENT": 0.34, "ABSENT": 0.12, "POSSIBLE": 0.12}
DEFAULT_N = 700
DEFAULT_SEED = 1938
MIN_WORDS, MAX_WORDS = 120, 260

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
MALE_NAMES = (
    "Arthur", "Bernard", "Calvin", "Dennis", "Eugene", "Gordon", "Harold", "Isaac", "Jerome",
    "Kenneth", "Marvin", "Nolan", "Oscar", "Raymond", "Theodore", "Walter", "Rafael", "Tobias",
)
FEMALE_NAMES = (
    "Agnes", "Beatrice", "Doris", "Edna", "Gloria", "Irene", "Judith", "Lorraine", "Nadine",
    "Pauline", "Rosa", "Thelma", "Wanda", "Ines", "Keiko", "Amara", "Svetlana", "Lucia",
)
SURNAMES = (
    "Ashdown", "Bellweather", "Carrington", "Drummond", "Ellsworth", "Farrow", "Grimaldi",
    "Holloway", "Ivanova", "Jessup", "Kowalczyk", "Lockhart", "Merriweather", "Nakagawa",
    "Oyelaran", "Pendergast", "Quimby", "Ridgeway", "Sandoval", "Tremblay", "Upshaw", "Vasquez",
    "Winslow", "Yardley", "Zamora", "Achterberg", "Brannigan", "Castellanos", "Dunleavy",
)
RADIOLOGISTS = (
    "Abernethy", "Bhattacharya", "Corrigan", "Delgado", "Eriksen", "Fontaine", "Gutierrez",
    "Hargreaves", "Imamura", "Jovanovic", "Kessler", "Lindgren", "Moreau", "Novak", "Ostrowski",
)
# (in-phrase, adjective, abbreviation, side)
LOCS = (
    ("the right lower lobe", "right lower lobe", "RLL", "right"),
    ("the left lower lobe", "left lower lobe", "LLL", "left"),
    ("the right middle lobe", "right middle lobe", "RML", "right"),
    ("the right upper lobe", "right upper lobe", "RUL", "right"),
    ("the left upper lobe", "left upper lobe", "LUL", "left"),
    ("the lingula", "lingular", "lingular", "left"),
    ("the superior segment of the right lower lobe", "superior segment right lower lobe",
     "RLL superior segment", "right"),
    ("the posterior segment of the right upper lobe", "posterior right upper lobe",
     "posterior RUL", "right"),
    ("the retrocardiac left lower lobe", "retrocardiac left lower lobe", "retrocardiac LLL",
     "left"),
    ("the right lung base", "right basilar", "R basilar", "right"),
    ("the left lung base", "left basilar", "L basilar", "left"),
    ("both lower lobes", "bilateral lower lobe", "b/l lower lobe", "both"),
    ("both lung bases", "bibasilar", "bibasilar", "both"),
    ("the right middle and lower lobes", "right middle and lower lobe", "RML/RLL", "right"),
    ("the left upper lobe and lingula", "left upper lobe and lingular", "LUL/lingular", "left"),
    ("the posterior basal segment of the left lower lobe", "posterior basal left lower lobe",
     "LLL posterior basal", "left"),
    ("the anterior segment of the right upper lobe", "anterior right upper lobe", "anterior RUL",
     "right"),
    ("the lateral segment of the right middle lobe", "lateral right middle lobe", "lateral RML",
     "right"),
)

# ----- the deciding statements, per class: (modalities, template) ---------------------------
# Modalities: "x" radiograph, "c" CT / CTA. "[a|b]" picks one alternative, "{key}" fills in.

PRESENT_FINDINGS = (
    ("xc", "[Dense|Confluent|Patchy|Focal] consolidation in {loc}[| with air bronchograms]"
           "[, consistent with| compatible with| in keeping with| representing] [pneumonia|lobar "
           "pneumonia|an infectious process|bronchopneumonia]."),
    ("xc", "There is [new|] airspace consolidation in {loc}[, consistent with pneumonia|, "
           "compatible with infection|]."),
    ("xc", "{Adj} airspace disease[ consistent with pneumonia| compatible with an infectious "
           "process| in keeping with infection]."),
    ("x", "{Adj} infiltrate[|, new since the prior study|, new compared with {pdate}]."),
    ("xc", "Airspace opacity in {loc}[ consistent with| compatible with| most consistent with] "
           "[pneumonia|infection]."),
    ("xc", "[Patchy|Multifocal] airspace opacities in {loc}, [consistent with|compatible with] "
           "[bronchopneumonia|multifocal pneumonia|an infectious process]."),
    ("x", "Opacification of {loc} with air bronchograms, consistent with [lobar pneumonia|"
          "pneumonia]."),
    ("xc", "Consolidation of {loc} with a small parapneumonic effusion."),
    ("xc", "Findings [consistent with|compatible with] aspiration pneumonia in {loc}."),
    ("xc", "{Adj} consolidation is again seen, [unchanged|not significantly changed|slightly "
           "decreased in extent] [from|compared with] the prior study."),
    ("xc", "Persistent {adj} consolidation[, compatible with known pneumonia|, slightly "
           "decreased in extent|]."),
    ("xc", "Improving but persistent {adj} [pneumonia|consolidation]."),
    ("xc", "Unchanged [known|] {adj} pneumonia."),
    ("xc", "No significant change in the {adj} [consolidation|pneumonia]."),
    ("x", "No interval improvement of the {adj} [infiltrate|consolidation]."),
    ("xc", "Interval development of {adj} consolidation, [consistent with|compatible with] "
           "pneumonia."),
    ("xc", "The {adj} consolidation has increased in extent since the prior study."),
    ("xc", "[No pleural effusion|No pneumothorax|No effusion]; {adj} consolidation [consistent "
           "with|compatible with] pneumonia."),
    ("xc", "No pleural effusion or pneumothorax, but there is [new|] consolidation in {loc} "
           "[compatible with|consistent with] pneumonia."),
    ("x", "Without pleural effusion, there is [dense|patchy] infiltrate in {loc}."),
    ("x", "The heart is not enlarged and there is no edema; {adj} airspace disease is "
          "[consistent with|compatible with] pneumonia."),
    ("xc", "Worsening {adj} consolidation, consistent with progressive pneumonia."),
    ("x", "Rounded consolidation in {loc}, consistent with round pneumonia."),
    ("xc", "There is pneumonia in {loc}[| with early cavitation]."),
    ("x", "{Adj} opacity with air bronchograms, representing [pneumonia|consolidation]."),
    ("c", "Consolidation with air bronchograms in {loc} and surrounding ground-glass opacity, "
          "consistent with pneumonia."),
    ("c", "Tree-in-bud nodularity and patchy consolidation in {loc}, consistent with "
          "[bronchopneumonia|an infectious bronchiolitis and pneumonia]."),
    ("c", "Consolidation in {loc} with bronchial impaction, compatible with aspiration "
          "pneumonia."),
    ("c", "Lobar consolidation of {loc} with a patent airway, without an obstructing lesion, "
          "consistent with pneumonia."),
    ("xc", "Consolidation in {loc}, which has not changed since {pdate}."),
    ("xc", "No cavitation within the {adj} consolidation, which is [consistent with|compatible "
           "with] pneumonia."),
    ("xc", "No air-fluid level in the {adj} consolidation, which is consistent with pneumonia."),
    ("xc", "There is no improvement in the {adj} pneumonia."),
    ("xc", "{Adj} consolidation [consistent with|compatible with] pneumonia, possibly "
           "aspiration."),
    ("xc", "{Adj} pneumonia with a possible small parapneumonic effusion."),
    ("c", "{Adj} consolidation consistent with pneumonia; an underlying obstructing lesion "
          "cannot be excluded, and follow-up after treatment is advised."),
    ("x", "Pneumonia in {loc}; a small underlying nodule cannot be excluded."),
    ("xc", "No pleural effusion accompanies the {adj} pneumonia."),
)
PRESENT_FINDINGS_T = (
    "{abbr} consolidation c/w PNA.", "{abbr} infiltrate.", "{abbr} PNA.",
    "Dense {abbr} consolidation w/ air bronchograms.", "{abbr} airspace dz c/w PNA.",
    "Persistent {abbr} consolidation.", "Improving {abbr} PNA, still present.",
    "{abbr} opacity c/w PNA.", "No eff; {abbr} consolidation c/w PNA.",
    "New {abbr} infiltrate c/w PNA.", "{abbr} PNA, unchanged.",
    "No sig change {abbr} consolidation.", "Patchy {abbr} opacities c/w bronchopneumonia.",
    "{abbr} consolidation c/w aspiration PNA.", "No PTX, + {abbr} infiltrate.",
    "Worse {abbr} consolidation.", "{abbr} lobar PNA w/ air bronchograms.",
    "No change {abbr} PNA.", "{abbr} PNA, poss aspiration.",
    "No cavitation in {abbr} consolidation c/w PNA.",
)
PRESENT_IMPRESSIONS = (
    ("xc", "{Adj} pneumonia[.|, new since {pdate}.]"),
    ("xc", "[Findings|Appearance] consistent with {adj} pneumonia."),
    ("xc", "{Adj} consolidation, compatible with pneumonia[| in the appropriate clinical "
           "setting]."),
    ("xc", "[Multifocal pneumonia|Bilateral bronchopneumonia], most pronounced in {loc}."),
    ("xc", "Aspiration pneumonia in {loc}."),
    ("xc", "Persistent {adj} pneumonia, [slightly improved|not significantly changed|slightly "
           "worse] [since|compared with] the prior study."),
    ("xc", "Pneumonia in {loc}[; follow-up radiograph after treatment is recommended to "
           "document resolution|]."),
    ("x", "{Adj} infiltrate consistent with pneumonia."),
    ("xc", "Acute {adj} pneumonia."),
    ("xc", "Improving but persistent {adj} pneumonia."),
    ("xc", "Pneumonia in {loc} without pleural effusion."),
    ("xc", "Interval worsening of {adj} pneumonia."),
    ("xc", "{Adj} pneumonia, no significant change."),
    ("c", "{Adj} pneumonia; no central obstructing lesion."),
    ("xc", "Consolidation in {loc} [consistent with|in keeping with] an infectious process."),
    ("xc", "No change in the {adj} pneumonia."),
    ("xc", "{Adj} pneumonia, possibly aspiration."),
    ("c", "{Adj} pneumonia; an underlying lesion cannot be excluded, follow-up CT after "
          "treatment is recommended."),
    ("xc", "No improvement of the {adj} pneumonia."),
    ("xc", "Uncomplicated {adj} pneumonia; no cavitation or effusion."),
)
PRESENT_IMPRESSIONS_T = (
    "{abbr} PNA.", "{abbr} consolidation c/w PNA.", "Persistent {abbr} PNA.",
    "{abbr} infiltrate c/w PNA.", "Improving but persistent {abbr} PNA.", "Aspiration PNA {abbr}.",
    "Worsening {abbr} PNA.", "{abbr} PNA, no sig change.",
)
PRESENT_BARE = (
    "Dense opacity in {loc} with air bronchograms.", "Opacification of {loc}.",
    "{Adj} airspace opacity.", "Confluent {adj} opacity obscuring the adjacent diaphragm.",
)
PRESENT_BARE_T = ("Dense {abbr} opacity.", "{abbr} opacification.")

ABSENT_FINDINGS = (
    ("xc", "No focal consolidation[| to suggest pneumonia]."),
    ("x", "No [evidence|radiographic evidence] of pneumonia."),
    ("c", "No CT evidence of pneumonia."),
    ("x", "[The lungs are clear|Lungs are clear] without [consolidation|focal consolidation|"
          "infiltrate]."),
    ("xc", "The lungs are free of consolidation[| or infiltrate]."),
    ("xc", "Negative for [infiltrate|consolidation|pneumonia]."),
    ("xc", "There is no [airspace disease|focal airspace opacity|lobar consolidation|"
           "infiltrate]."),
    ("xc", "Pneumonia is not seen."),
    ("xc", "Consolidation is not [seen|identified|present]."),
    ("xc", "[Previously seen|The previously noted] {adj} pneumonia has resolved."),
    ("xc", "Interval resolution of the {adj} [pneumonia|consolidation]."),
    ("xc", "The {adj} consolidation seen on the prior study has cleared."),
    ("x", "The {adj} infiltrate is no longer [seen|visible]."),
    ("xc", "[Cardiomegaly and pulmonary edema|Mild interstitial edema|Vascular congestion and "
           "small bilateral pleural effusions] without [focal consolidation|consolidation]."),
    ("xc", "[Bibasilar|Left basilar|Right basilar] [atelectasis|subsegmental atelectasis] "
           "without [consolidation|superimposed pneumonia]."),
    ("x", "Hyperinflated lungs [compatible with|consistent with] emphysema, with no "
          "superimposed consolidation."),
    ("xc", "No infiltrate or consolidation[ is seen|]."),
    ("x", "Lungs without focal airspace disease."),
    ("xc", "No focal airspace opacity[ to suggest infection| to suggest pneumonia|]."),
    ("xc", "Absence of consolidation[ in either lung|]."),
    ("c", "The lungs show no consolidation, ground-glass opacity or nodularity to suggest "
          "infection."),
    ("c", "No consolidation or ground-glass opacity to suggest an infectious process."),
    ("c", "No tree-in-bud nodularity or consolidation."),
    ("xc", "There is no pneumonia."),
    ("x", "[Both lungs are|The lungs are] well expanded and clear, with no [pneumonia|"
          "consolidation]."),
    ("xc", "No pleural effusion, pneumothorax or consolidation."),
    ("xc", "No edema, consolidation or effusion."),
    ("xc", "Compared with {pdate}, the {adj} consolidation has resolved."),
    ("xc", "No focal consolidation; [possible|questionable] trace left pleural effusion."),
    ("xc", "No consolidation or edema; cannot exclude a tiny right pleural effusion."),
    ("x", "No infiltrate, although a tiny nodule in the left upper zone cannot be excluded."),
    ("xc", "The {adj} pneumonia seen on {pdate} has resolved."),
    ("xc", "Consolidation in {loc} on the prior study is no longer present."),
)
ABSENT_FINDINGS_T = (
    "No PNA.", "No consolidation.", "Neg for infiltrate.", "Lungs clear, no consolidation.",
    "{abbr} PNA resolved.", "No focal consolidation/infiltrate.", "Clear lungs w/o consolidation.",
    "No infiltrate.", "No PNA or eff.", "Prior {abbr} consolidation cleared.",
    "Lungs clear; no focal airspace dz.", "B/l basilar atx w/o consolidation.",
    "No consolidation, edema or PTX.", "Interval resolution {abbr} PNA.",
)
ABSENT_IMPRESSIONS = (
    ("xc", "No pneumonia."),
    ("x", "No [evidence|radiographic evidence] of pneumonia."),
    ("c", "No CT evidence of pneumonia."),
    ("xc", "Negative for pneumonia."),
    ("xc", "Resolved {adj} pneumonia."),
    ("xc", "Interval resolution of the {adj} pneumonia."),
    ("xc", "No acute cardiopulmonary process; specifically, no pneumonia."),
    ("xc", "No focal consolidation."),
    ("xc", "No consolidation to suggest pneumonia."),
    ("xc", "No acute findings; no pneumonia."),
    ("x", "Clear lungs; no consolidation."),
    ("xc", "Pneumonia is not seen."),
    ("xc", "Complete clearing of the {adj} pneumonia."),
    ("xc", "No infiltrate."),
    ("xc", "Resolution of the {adj} pneumonia."),
    ("xc", "No pneumonia; possible trace left pleural effusion."),
)
ABSENT_IMPRESSIONS_T = (
    "No PNA.", "No consolidation.", "Neg for PNA.", "{abbr} PNA resolved.",
    "No acute process, no PNA.", "No infiltrate.",
)
ABSENT_BARE = ("The lungs are clear.", "Lungs are clear and well expanded.")
ABSENT_BARE_T = ("Lungs clear.",)
ABSENT_EXTRA_IMP = ("No acute cardiopulmonary process.", "No acute cardiopulmonary findings.")

POSSIBLE_FINDINGS = (
    ("xc", "[Subtle|Faint|Hazy|Ill-defined|Patchy] opacity in {loc}[, which may represent|, "
           "which could represent|, possibly representing] [early pneumonia|an early "
           "infiltrate|an infectious process|aspiration]."),
    ("xc", "[Subtle|Faint] opacity in {loc}; [pneumonia|an early infiltrate|an infectious "
           "process] cannot be excluded."),
    ("xc", "Possible [early|developing|small] {adj} [pneumonia|infiltrate|consolidation]."),
    ("x", "Questionable {adj} infiltrate."),
    ("xc", "Hazy opacity at {loc}, suspicious for [pneumonia|early pneumonia|an infectious "
           "process]."),
    ("xc", "{Adj} opacity, atelectasis versus pneumonia."),
    ("xc", "{Adj} opacity which could reflect atelectasis or [pneumonia|consolidation]."),
    ("x", "Early pneumonia [is|] not excluded in the appropriate clinical setting."),
    ("xc", "Equivocal {adj} [consolidation|infiltrate]."),
    ("xc", "Patchy {adj} opacity; differential includes atelectasis, aspiration and pneumonia."),
    ("xc", "New patchy opacity in {loc} which may represent aspiration."),
    ("xc", "[Mild pulmonary edema|Bibasilar atelectasis|Vascular congestion]; superimposed "
           "[infection|pneumonia] cannot be excluded."),
    ("xc", "No definite focal consolidation, although early pneumonia cannot be excluded."),
    ("x", "No effusion or pneumothorax; [subtle|faint] {adj} opacity may represent early "
          "pneumonia."),
    ("xc", "Increased {adj} opacity since the prior study, [atelectasis or pneumonia|infiltrate "
           "versus atelectasis]."),
    ("xc", "Streaky {adj} opacity that may reflect atelectasis, although [pneumonia|an "
           "infectious process] is not excluded."),
    ("x", "Possible {adj} airspace disease."),
    ("x", "Indistinct {adj} opacity, [possibly|questionably] an early infiltrate."),
    ("xc", "The {adj} opacity is [nonspecific|indeterminate] and may represent pneumonia or "
           "atelectasis."),
    ("x", "Retrocardiac opacity, which could be atelectasis or consolidation."),
    ("c", "Patchy ground-glass opacity in {loc}, which may represent an early infectious "
          "process."),
    ("c", "Mild peribronchial thickening and patchy {adj} opacity, equivocal for early "
          "bronchopneumonia."),
    ("c", "Scattered nodular opacities in {loc}; an infectious process cannot be excluded."),
    ("c", "Opacity in {loc}, atelectasis versus aspiration."),
    ("xc", "Subtle {adj} opacity, possibly early consolidation, not present on {pdate}."),
)
POSSIBLE_FINDINGS_T = (
    "?{abbr} infiltrate.", "{abbr} opacity, atx vs PNA.", "Poss early {abbr} PNA.",
    "Cannot exclude {abbr} PNA.", "Subtle {abbr} opacity, may be early infiltrate.",
    "Equivocal {abbr} consolidation.", "{abbr} haziness, may represent early PNA.",
    "Poss {abbr} consolidation vs atx.", "{abbr} opacity, ddx atx/aspiration/PNA.",
    "Faint {abbr} opacity, PNA not excluded.",
)
POSSIBLE_IMPRESSIONS = (
    ("xc", "Possible {adj} pneumonia."),
    ("xc", "{Adj} opacity: atelectasis versus pneumonia[; correlate clinically|]."),
    ("xc", "Early pneumonia not excluded in the appropriate clinical setting."),
    ("x", "Subtle {adj} opacity, which may represent early pneumonia[; follow-up radiograph "
          "recommended|]."),
    ("xc", "Findings suspicious for early {adj} pneumonia."),
    ("x", "Questionable {adj} infiltrate; consider follow-up imaging."),
    ("xc", "{Adj} opacity, possibly aspiration."),
    ("xc", "Cannot exclude {adj} pneumonia."),
    ("xc", "Equivocal {adj} airspace opacity; pneumonia is a consideration."),
    ("xc", "Nonspecific {adj} opacity; differential includes pneumonia and atelectasis."),
    ("xc", "Possible [early infection|infectious process|early consolidation] in {loc}."),
    ("xc", "Indeterminate {adj} opacity; an infectious process is not excluded."),
    ("c", "Ground-glass opacity in {loc}, which may represent early pneumonia."),
)
POSSIBLE_IMPRESSIONS_T = (
    "Poss {abbr} PNA.", "{abbr} opacity: atx vs PNA.", "Early PNA not excluded.",
    "Cannot exclude {abbr} PNA, correlate clinically.", "?early {abbr} infiltrate.",
)
POSSIBLE_BARE = (
    "Subtle opacity in {loc}.", "Faint {adj} opacity.", "Ill-defined {adj} density.",
    "Streaky opacity in {loc}.",
)
POSSIBLE_BARE_T = ("Subtle {abbr} opacity.", "Faint {abbr} density.")

CONTRALATERAL = (
    "The {other} lung is clear without consolidation.", "No consolidation in the {other} lung.",
    "The {other} lung is free of consolidation.", "No {other}-sided infiltrate.",
    "The {other} lung is clear, without infiltrate.",
)
CONTRALATERAL_T = ("{O} lung w/o consolidation.", "No {O} consolidation.",
                   "{O} lung clear, no PNA.")

POOLS = {
    "PRESENT": (PRESENT_FINDINGS, PRESENT_FINDINGS_T, PRESENT_IMPRESSIONS, PRESENT_IMPRESSIONS_T,
                PRESENT_BARE, PRESENT_BARE_T),
    "ABSENT": (ABSENT_FINDINGS, ABSENT_FINDINGS_T, ABSENT_IMPRESSIONS, ABSENT_IMPRESSIONS_T,
               ABSENT_BARE, ABSENT_BARE_T),
    "POSSIBLE": (POSSIBLE_FINDINGS, POSSIBLE_FINDINGS_T, POSSIBLE_IMPRESSIONS,
                 POSSIBLE_IMPRESSIONS_T, POSSIBLE_BARE, POSSIBLE_BARE_T),
}

# ----- other findings: category -> (modalities, findings text, terse text, impression) ------

OTHERS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "heart": (
        ("xc", "[The heart is normal in size|Heart size is normal|Normal heart size].",
         "Heart nl size.", ""),
        ("x", "The cardiomediastinal silhouette is [within normal limits|normal|unremarkable].",
         "Cardiomediastinal silhouette [WNL|nl].", ""),
        ("xc", "{Deg} cardiomegaly[| is again noted| is unchanged].", "{Deg} cardiomegaly.",
         "{Deg} cardiomegaly."),
        ("x", "Stable {deg} enlargement of the cardiac silhouette.", "{Deg} cardiomegaly, stable.",
         "Stable {deg} cardiomegaly."),
        ("x", "Heart size is at the upper limits of normal[| and unchanged].", "Heart upper nl.",
         ""),
        ("p", "Possible mild cardiomegaly, [accentuated|exaggerated] by the AP technique.",
         "Poss mild cardiomegaly (AP technique).", ""),
        ("p", "The heart size cannot be reliably assessed on this AP projection.",
         "Heart size not assessable on AP.", ""),
        ("c", "Heart size is normal. No pericardial effusion.", "", ""),
        ("c", "{Deg} cardiomegaly with a small pericardial effusion.", "",
         "{Deg} cardiomegaly and a small pericardial effusion."),
        ("c", "Marked cardiomegaly with biatrial enlargement.", "", "Marked cardiomegaly."),
        ("c", "Normal heart size; trace pericardial fluid, which may be physiologic.", "", ""),
        ("x", "Left ventricular configuration of the cardiac silhouette.", "LV configuration.",
         ""),
        ("c", "Left ventricular hypertrophy. No pericardial effusion.", "", ""),
    ),
    "aorta": (
        ("x", "The aorta is [tortuous and calcified|tortuous|ectatic and calcified].",
         "[Tortuous calcified aorta|Ectatic aorta].", ""),
        ("c", "Atherosclerotic calcification of the thoracic aorta[ and coronary arteries|, "
              "mild].", "", ""),
        ("c", "The ascending aorta is mildly dilated at {aorta} cm.", "",
         "Mild dilatation of the ascending aorta ({aorta} cm)."),
        ("x", "[Calcified aortic knob|Atherosclerotic calcification of the aortic arch].",
         "Aortic knob calcified.", ""),
        ("c", "[Dense|Moderate|Mild] coronary artery calcifications.", "", ""),
        ("c", "Normal caliber of the thoracic aorta[| without dissection].", "", ""),
        ("c", "Aberrant right subclavian artery, an incidental variant.", "", ""),
        ("x", "Widened, unfolded thoracic aorta[| similar to prior].", "Unfolded aorta.", ""),
    ),
    "edema": (
        ("xc", "[Mild|Minimal] interstitial pulmonary edema.", "Mild interstitial edema.",
         "Mild interstitial edema."),
        ("x", "Pulmonary vascular congestion without frank edema.",
         "Vascular congestion, no frank edema.", "Pulmonary vascular congestion."),
        ("x", "Moderate pulmonary edema with Kerley B lines[| and peribronchial cuffing].",
         "Mod pulm edema, Kerley B lines.", "Moderate pulmonary edema."),
        ("xc", "No pulmonary edema.", "No edema.", ""),
        ("c", "Smooth interlobular septal thickening, consistent with mild edema.", "",
         "Mild pulmonary edema."),
        ("x", "Cephalization of the pulmonary vasculature, which may represent early "
              "congestion.", "Cephalization, may represent early congestion.", ""),
        ("x", "Pulmonary vascularity is within normal limits.", "Vasculature nl.", ""),
        ("x", "Pulmonary edema has improved compared with the prior study.", "Edema improved.",
         "Improving pulmonary edema."),
    ),
    "atelectasis": (
        ("xc", "Linear subsegmental atelectasis at the {aside} base.", "{As} basilar linear atx.",
         ""),
        ("xc", "[Mild|Minimal] bibasilar atelectasis.", "Mild b/l basilar atx.",
         "Mild bibasilar atelectasis."),
        ("x", "Plate-like atelectasis in the {aside} mid lung.", "Platelike atx {As} mid lung.",
         ""),
        ("c", "Dependent atelectasis in both lower lobes.", "", ""),
        ("xc", "Band of atelectasis versus scarring at the {aside} base.", "{As} base atx vs scar.",
         ""),
        ("xc", "Low lung volumes with crowding of the bronchovascular markings.",
         "Low volumes, crowded markings.", ""),
        ("c", "Rounded atelectasis in the {aside} lower lobe adjacent to pleural thickening.", "",
         ""),
        ("x", "Discoid atelectasis at the {aside} base[| is unchanged].", "Discoid atx {As} base.",
         ""),
    ),
    "emphysema": (
        ("x", "The lungs are hyperinflated with flattened hemidiaphragms, consistent with "
              "emphysema.", "Hyperinflated lungs c/w emphysema.", "Emphysema."),
        ("c", "Centrilobular emphysema, upper lobe predominant.", "", "Centrilobular emphysema."),
        ("c", "[Moderate|Mild|Severe] paraseptal and centrilobular emphysema.", "", "Emphysema."),
        ("x", "Hyperinflation, [stable|unchanged].", "Hyperinflation.", ""),
        ("xc", "Biapical pleural-parenchymal scarring.", "Biapical scarring.", ""),
        ("c", "Mosaic attenuation of the lungs, which may reflect small airways disease.", "", ""),
        ("c", "Mild basilar-predominant reticulation without honeycombing.", "",
         "Mild basilar reticulation; early interstitial lung disease cannot be excluded."),
        ("x", "Chronic interstitial markings[| are unchanged].", "Chronic interstitial markings.",
         ""),
        ("c", "Paraseptal blebs at the lung apices.", "", ""),
        ("x", "Bullous changes at the {nside} apex.", "{Ns} apical bullae.", ""),
    ),
    "nodule": (
        ("xc", "Stable {mm} mm nodule in the {nside} upper lobe.", "Stable {mm} mm {Ns}UL nodule.",
         "Stable {mm} mm {nside} upper lobe nodule."),
        ("x", "Calcified granuloma in the {nside} [mid|lower|upper] lung.",
         "Calcified granuloma {Ns} lung.", ""),
        ("x", "Cannot exclude a tiny nodule projecting over the {nside} mid lung, which may "
              "represent a nipple shadow.", "Cannot exclude tiny nodule {Ns} mid lung, may be "
              "nipple shadow.", "Possible {nside} mid lung nodule versus nipple shadow; repeat "
              "with nipple markers."),
        ("x", "An equivocal {mm} mm nodular density in the {nside} upper zone.",
         "Equivocal {mm} mm nodular density {Ns}UZ.", ""),
        ("x", "Possible small nodule at the {nside} apex; differential includes an end-on "
              "vessel.", "Poss small {Ns} apical nodule vs end-on vessel.", ""),
        ("c", "{mm} mm solid nodule in the {nside} lower lobe (series {ser}, image {img}), which "
              "may represent an intrapulmonary lymph node.", "",
         "{mm} mm {nside} lower lobe nodule; follow-up per Fleischner guidelines."),
        ("c", "Scattered calcified granulomas.", "", ""),
        ("c", "A {mm} mm ground-glass nodule in the {nside} upper lobe (series {ser}, image "
              "{img}).", "", "{mm} mm ground-glass nodule in the {nside} upper lobe; follow-up CT "
              "in 6-12 months."),
        ("c", "Cannot exclude a tiny {mm2} mm nodule in the {nside} upper lobe given motion "
              "artifact.", "", ""),
        ("c", "Stable {mm} mm perifissural nodule along the {nside} major fissure, consistent with "
              "an intrapulmonary lymph node.", "", ""),
        ("c", "Multiple small bilateral pulmonary nodules up to {mm} mm; metastatic disease cannot "
              "be excluded.", "", "Multiple small pulmonary nodules; metastases cannot be "
              "excluded."),
    ),
    "pleura": (
        ("xc", "No pleural effusion or pneumothorax.", "No eff/PTX.", ""),
        ("xc", "No pneumothorax.", "No PTX.", ""),
        ("xc", "Small {eside} pleural effusion[| is unchanged| has increased slightly].",
         "Small {Es} eff.", "Small {eside} pleural effusion."),
        ("xc", "Small bilateral pleural effusions.", "Small b/l effusions.",
         "Small bilateral pleural effusions."),
        ("x", "Possible small {eside} pleural effusion.", "Poss small {Es} eff.", ""),
        ("x", "Questionable blunting of the {eside} costophrenic angle, which may represent a "
              "trace effusion.", "?blunting {Es} CPA, may be trace eff.", ""),
        ("x", "A tiny {eside} apical pneumothorax cannot be excluded; consider an upright view.",
         "Tiny {Es} apical PTX not excluded, upright view advised.",
         "Tiny {eside} apical pneumothorax cannot be excluded."),
        ("c", "Trace {eside} pleural effusion.", "", ""),
        ("c", "Moderate {eside} pleural effusion with adjacent compressive atelectasis.", "",
         "Moderate {eside} pleural effusion."),
        ("c", "Small {eside} pleural effusion, possibly loculated.", "", ""),
        ("xc", "No pleural effusion.", "No effusion.", ""),
        ("xc", "No pneumothorax or large pleural effusion.", "No PTX, no large eff.", ""),
        ("x", "Blunting of the {eside} costophrenic angle, which may reflect a small effusion or "
              "pleural thickening.", "{Es} CPA blunting, eff vs thickening.", ""),
        ("xc", "The {eside} pleural effusion has decreased since the prior study.",
         "{Es} eff decreased.", "Decreasing {eside} pleural effusion."),
    ),
    "bone": (
        ("xc", "No acute osseous abnormality.", "No acute osseous abnl.", ""),
        ("xc", "Healed {rside} rib fractures.", "Old healed {Rs} rib fx.", ""),
        ("x", "Possible nondisplaced fracture of the {rside} {rib} rib.",
         "Poss nondisplaced {Rs} {rib} rib fx.",
         "Possible nondisplaced {rside} {rib} rib fracture; correlate with point tenderness."),
        ("x", "Findings suspicious for a nondisplaced fracture of the {rside} {rib} rib.",
         "Susp nondisplaced {Rs} {rib} rib fx.",
         "Suspected nondisplaced {rside} {rib} rib fracture."),
        ("xc", "Old healed fracture deformity of the {rside} clavicle.",
         "Old {Rs} clavicle fx deformity.", ""),
        ("c", "No suspicious lytic or blastic osseous lesion.", "", ""),
        ("c", "Acute nondisplaced fracture of the {rside} {rib} rib.", "",
         "Acute nondisplaced {rside} {rib} rib fracture."),
        ("xc", "Degenerative changes of the {rside} shoulder.", "DJD {Rs} shoulder.", ""),
        ("x", "The bones are demineralized.", "Osteopenia.", ""),
        ("c", "Sclerotic focus in the T{t} vertebral body, which may represent a bone island.",
         "", ""),
        ("xc", "{Rside} shoulder arthroplasty.", "{Rs} shoulder arthroplasty.", ""),
    ),
    "spine": (
        ("xc", "[Mild|Moderate|Multilevel] degenerative changes of the thoracic spine.",
         "DJD T-spine.", ""),
        ("x", "Mild compression deformity of a lower thoracic vertebral body, age "
              "indeterminate.", "Mild lower T-spine compression deformity, age indeterminate.",
         ""),
        ("c", "Chronic-appearing compression deformity of T{t} with about {pct}% height loss.", "",
         ""),
        ("c", "Multilevel degenerative disc disease of the thoracic spine.", "", ""),
        ("xc", "Thoracolumbar scoliosis[| convex to the right| convex to the left].",
         "Scoliosis.", ""),
        ("xc", "Kyphoplasty cement in a lower thoracic vertebral body.", "s/p kyphoplasty.", ""),
        ("c", "Flowing anterior osteophytes of the thoracic spine, consistent with DISH.", "", ""),
        ("xc", "Posterior spinal fusion hardware in the thoracic spine.",
         "T-spine fusion hardware.", ""),
    ),
    "sternum": (
        ("xc", "[Median sternotomy wires are intact|Intact median sternotomy wires|Sternotomy "
               "wires and mediastinal clips from prior CABG].", "s/p sternotomy[, wires "
               "intact|].", ""),
        ("xc", "Prosthetic aortic valve.", "Prosthetic AV.", ""),
        ("x", "Left atrial appendage occlusion device.", "LAA occluder.", ""),
        ("xc", "Mitral annuloplasty ring.", "Mitral annuloplasty ring.", ""),
    ),
    "hernia": (
        ("xc", "{Hsize} hiatal hernia.", "{Hsize} HH.", "{Hsize} hiatal hernia."),
        ("x", "Possible small hiatal hernia.", "Poss small HH.", ""),
        ("c", "Large hiatal hernia with an intrathoracic stomach.", "", "Large hiatal hernia."),
        ("x", "Retrocardiac air-fluid level, consistent with a hiatal hernia.",
         "Retrocardiac air-fluid level c/w HH.", "Hiatal hernia."),
    ),
    "abdomen": (
        ("x", "No free air under the diaphragm.", "No free air.", ""),
        ("xc", "[Surgical clips in the right upper quadrant|Cholecystectomy clips].",
         "RUQ surgical clips.", ""),
        ("c", "Limited images of the upper abdomen are unremarkable.", "", ""),
        ("c", "Hepatic steatosis.", "", ""),
        ("c", "Hypodense liver lesion too small to characterize, possibly a cyst.", "", ""),
        ("c", "Cholelithiasis without gallbladder wall thickening.", "", ""),
        ("c", "Left adrenal nodule measuring {adr} cm, possibly an adenoma.", "",
         "Indeterminate {adr} cm left adrenal nodule."),
        ("x", "Gaseous distension of the stomach.", "Gastric distension.", ""),
        ("c", "Partially imaged simple cyst of the {rside} kidney.", "", ""),
        ("c", "Splenomegaly, partially imaged.", "", ""),
        ("x", "Nonobstructive bowel gas pattern in the upper abdomen.",
         "Nonobstructive upper abd gas.", ""),
    ),
    "nodes": (
        ("c", "No mediastinal or hilar lymphadenopathy.", "", ""),
        ("c", "Mildly enlarged subcarinal lymph node measuring {node} mm, which may be "
              "reactive.", "", ""),
        ("c", "Prominent mediastinal lymph nodes, not enlarged by size criteria.", "", ""),
        ("x", "[Hila are normal in size|The hila are unremarkable|Normal hilar contours].",
         "Hila nl.", ""),
        ("c", "Calcified mediastinal and hilar lymph nodes, consistent with prior granulomatous "
              "disease.", "", ""),
        ("c", "Mildly enlarged {nside} hilar lymph node measuring {node} mm, which may be "
              "reactive.", "", ""),
        ("x", "Prominent {nside} hilum, possibly vascular.", "Prominent {Ns} hilum, poss vascular.",
         ""),
    ),
    "thyroid": (
        ("c", "Indeterminate {mm} mm hypodense nodule in the left thyroid lobe.", "", ""),
        ("c", "The thyroid gland is unremarkable.", "", ""),
        ("c", "Enlarged multinodular thyroid with mild substernal extension.", "",
         "Multinodular goiter with substernal extension."),
    ),
    "airways": (
        ("c", "The central airways are patent.", "", ""),
        ("c", "The esophagus is patulous, with an air-fluid level.", "", ""),
        ("c", "Mild expiratory narrowing of the trachea; tracheomalacia cannot be excluded.", "",
         ""),
        ("x", "The trachea is midline.", "Trachea midline.", ""),
        ("x", "Mediastinal contours are unremarkable.", "Mediastinum unremarkable.", ""),
        ("p", "The mediastinum appears mildly widened, which may be due to the AP technique.",
         "Mediastinum mildly wide, may be AP technique.", ""),
        ("x", "Rightward deviation of the trachea by a thyroid goiter.",
         "Trachea deviated R (goiter).", ""),
    ),
    "diaphragm": (
        ("xc", "Chronic elevation of the {rside} hemidiaphragm.",
         "Chronic elevated {Rs} hemidiaphragm.", ""),
        ("x", "Eventration of the anteromedial {rside} hemidiaphragm.",
         "Eventration {Rs} hemidiaphragm.", ""),
        ("x", "Colonic interposition under the right hemidiaphragm.",
         "Colon interposed under R hemidiaphragm.", ""),
    ),
    "soft": (
        ("xc", "Soft tissues are unremarkable.", "Soft tissues unremarkable.", ""),
        ("xc", "Bilateral breast implants.", "B/l breast implants.", ""),
        ("xc", "Surgical clips in the {rside} axilla.", "{Rs} axillary clips.", ""),
        ("xc", "Status post {rside} mastectomy.", "s/p {Rs} mastectomy.", ""),
        ("x", "Overlying skin fold on the {rside}, not to be confused with a pneumothorax.",
         "Skin fold {Rs}, not a PTX.", ""),
        ("c", "Small fat-containing umbilical hernia at the edge of the field of view.", "", ""),
    ),
    "plaques": (
        ("xc", "Calcified pleural plaques, consistent with prior asbestos exposure.",
         "Calcified pleural plaques.", "Calcified pleural plaques."),
        ("c", "Noncalcified pleural thickening along the {eside} lateral chest wall.", "", ""),
    ),
    "quality": (
        ("p", "The study is limited by patient rotation and a low inspiratory effort.",
         "Limited: rotation, poor inspiration.", ""),
        ("x", "The lung apices are partly excluded from the field of view.",
         "Apices partly excluded.", ""),
        ("p", "Overlying monitoring equipment partially obscures the {rside} hemithorax.",
         "Equipment obscures {Rs} chest.", ""),
        ("c", "Mild respiratory motion artifact at the lung bases.", "", ""),
        ("c", "Streak artifact from the patient's arms limits evaluation of the upper abdomen.",
         "", ""),
        ("x", "Good inspiratory effort.", "Good inspiration.", ""),
    ),
}
# How often each category is described at all (per report, before the length is filled);
# heart and pleura almost always.
CATEGORY_SHARE = {
    "heart": 0.95, "pleura": 0.95, "aorta": 0.45, "edema": 0.5, "atelectasis": 0.5,
    "emphysema": 0.4, "nodule": 0.4, "bone": 0.6, "spine": 0.35, "sternum": 0.12,
    "hernia": 0.2, "abdomen": 0.45, "nodes": 0.5, "thyroid": 0.3, "airways": 0.35,
    "diaphragm": 0.12, "soft": 0.2, "quality": 0.3, "plaques": 0.06,
}
SECTION_OF = {
    "heart": "Heart and vessels", "aorta": "Heart and vessels", "edema": "Lungs",
    "atelectasis": "Lungs", "emphysema": "Lungs", "nodule": "Lungs", "pleura": "Pleura",
    "bone": "Bones", "spine": "Bones", "sternum": "Heart and vessels", "hernia": "Upper abdomen",
    "abdomen": "Upper abdomen", "nodes": "Mediastinum", "thyroid": "Mediastinum",
    "airways": "Mediastinum", "diaphragm": "Upper abdomen", "soft": "Soft tissues",
    "quality": "Quality", "plaques": "Pleura",
}
# Support devices: (findings, terse, impression, also seen on non-portable studies, the
# indication of a line check)
DEVICES = (
    ("Endotracheal tube tip {ett} cm above the carina.", "ETT {ett} cm above carina.",
     "Endotracheal tube in satisfactory position.", False, ("intubation", "s/p intubation")),
    ("Enteric tube courses below the diaphragm with the tip in the stomach.",
     "NGT tip in stomach.", "Enteric tube in the stomach.", False,
     ("enteric tube placement", "NGT placement")),
    ("Right internal jugular central venous catheter with the tip at the cavoatrial junction.",
     "R IJ CVC tip at cavoatrial jxn.",
     "Right internal jugular catheter tip at the cavoatrial junction.", False,
     ("central line placement", "line placement")),
    ("Left subclavian central line terminates in the mid SVC.", "L subclavian CVC tip mid SVC.",
     "Left subclavian line tip in the SVC.", False,
     ("central line placement", "line placement")),
    ("Right PICC with the tip in the lower SVC.", "R PICC tip low SVC.",
     "PICC tip in the lower SVC.", True, ("PICC placement", "PICC placement")),
    ("Left chest wall dual-chamber pacemaker with leads in the right atrium and right "
     "ventricle.", "L chest dual-chamber PPM, leads RA/RV.", "", True, None),
    ("Left chest port with the catheter tip at the cavoatrial junction.",
     "L chest port, tip at CAJ.", "", True, None),
    ("Right internal jugular dialysis catheter with the tips in the right atrium.",
     "R IJ HD cath, tips RA.", "", True, ("dialysis catheter placement", "HD cath placement")),
    ("Defibrillator pads project over the chest.", "Defib pads over chest.", "", False, None),
    ("Feeding tube with the tip in the proximal duodenum.", "DHT tip proximal duodenum.",
     "Feeding tube tip in the proximal duodenum.", False,
     ("feeding tube placement", "DHT placement")),
    ("Tracheostomy tube in standard position.", "Trach in place.", "", False, None),
    ("Cardiac monitoring leads overlie the chest.", "EKG leads overlie chest.", "", False, None),
    ("Left-sided implantable cardioverter-defibrillator, leads unchanged in position.",
     "L ICD, leads unchanged.", "", True, None),
    ("Right chest tube with the tip at the apex; no residual pneumothorax.",
     "R chest tube, tip apex, no residual PTX.", "Right chest tube without residual "
     "pneumothorax.", False, ("chest tube placement", "chest tube placement")),
)
# CT angiography: the pulmonary arteries (findings, impression)
PE_LINES = (
    ("No filling defect in the pulmonary arteries to suggest pulmonary embolism.",
     "No pulmonary embolism."),
    ("Negative for pulmonary embolism to the segmental level.",
     "Negative for pulmonary embolism."),
    ("Subsegmental arteries of the lower lobes are suboptimally opacified; small subsegmental "
     "emboli cannot be excluded. No central or segmental embolus.",
     "No central or segmental pulmonary embolism; subsegmental emboli cannot be excluded."),
    ("Filling defect in a segmental branch of the {pe_side} lower lobe artery, consistent with "
     "acute pulmonary embolism. RV/LV ratio is normal.",
     "Acute segmental pulmonary embolism in the {pe_side} lower lobe."),
    ("The main pulmonary artery is normal in caliber. No pulmonary embolism.",
     "No pulmonary embolism."),
    ("Possible small filling defect in a {pe_side} lower lobe subsegmental artery, equivocal "
     "given motion; no central embolus.",
     "Equivocal subsegmental filling defect on the {pe_side}; no central pulmonary embolism."),
)
# Concepts: one sentence per concept and report, so findings never contradict each other.
CONCEPTS = {
    "effusion": r"(?<!pericardial )effusion|\beff\b|costophrenic|\bCPA\b",
    "ptx": r"pneumothora|\bPTX\b",
    "edema": r"edema|congestion|kerley|cephalization",
    "atx": r"atelecta|\batx\b|low (lung )?volumes",
    "volume": r"emphysema|hyperinfl|low (lung )?volumes|well expanded",
    "heart": r"\bheart\b|cardiomeg|\bcardiac\b|cardiomediastinal|pericardial|biatrial",
    "diaphragm": r"hemidiaphragm",
    "mediastinum": r"mediastin(um|al contours)|trachea",
    "nodule": r"nodul|granuloma|nipple",
    "bone": r"osseous|fractur|\bfx\b",
    "hernia": r"hernia|\bHH\b",
}
_CONCEPT_RES = {key: re.compile(pattern, re.I) for key, pattern in CONCEPTS.items()}
NEEDS_PRIOR = re.compile(
    r"\b(prior|previous\w*|interval|persistent|unchanged|improv\w*|resolv\w*|resolution|"
    r"cleared|clearing|again|new|no longer|since|increased|decreased|change\w*|worse\w*|"
    r"progressive|known|stable|removed|not present on)\b", re.I)
UNCERTAIN_OTHER = re.compile(
    r"possibl|cannot be excluded|cannot exclude|not excluded|questionable|may represent|"
    r"suspicious|versus|\bvs\b|equivocal|differential|may be", re.I)

# ----- context: indications, history, technique, notes -------------------------------------

# (full, terse, kind): the kind picks the plain questions that fit the complaint
SYMPTOMS = (
    ("fever", "fever", "gen"), ("productive cough", "prod cough", "gen"),
    ("shortness of breath", "SOB", "dysp"), ("hypoxia", "hypoxia", "dysp"),
    ("chest pain", "CP", "pain"), ("leukocytosis", "leukocytosis", "gen"),
    ("fever and cough", "fever/cough", "gen"), ("worsening dyspnea", "worsening DOE", "dysp"),
    ("sepsis", "sepsis", "gen"), ("altered mental status", "AMS", "gen"),
    ("a fall", "s/p fall", "trauma"),
    ("tachycardia and pleuritic chest pain", "tachycardia, pleuritic CP", "pain"),
    ("hemoptysis", "hemoptysis", "gen"), ("generalized weakness", "weakness", "gen"),
    ("heart failure exacerbation", "CHF exac", "dysp"), ("COPD exacerbation", "COPD exac", "dysp"),
    ("rib pain after a fall", "rib pain s/p fall", "trauma"),
    ("low oxygen saturation", "low sats", "dysp"),
    ("increased oxygen requirement", "incr O2 req", "dysp"), ("wheezing", "wheezing", "dysp"),
)
ASK_TARGET = (
    ("rule out pneumonia", "r/o PNA"), ("evaluate for pneumonia", "eval for PNA"),
    ("evaluate for infiltrate", "eval infiltrate"), ("concern for pneumonia", "?PNA"),
    ("assess for consolidation", "?consolidation"),
    ("question of aspiration pneumonia", "?aspiration"),
    ("follow-up of known pneumonia", "f/u PNA"), ("suspected pneumonia", "susp PNA"),
    ("evaluate for airspace disease", "eval airspace dz"),
    ("rule out infiltrate", "r/o infiltrate"),
)
ASK_PLAIN = {
    "gen": (("", ""), ("evaluate", "eval"), ("", "")),
    "dysp": (("evaluate for edema", "eval edema"), ("evaluate for effusion", "eval eff"),
             ("", ""), ("rule out pneumothorax", "r/o PTX")),
    "pain": (("", ""), ("rule out pneumothorax", "r/o PTX"), ("evaluate", "eval")),
    "trauma": (("rule out fracture", "r/o fx"), ("rule out pneumothorax", "r/o PTX"), ("", "")),
}
HISTORY = (
    ("History of pneumonia in {hyear}.", "Hx PNA {hyear}."),
    ("History of right lower lobe pneumonia {hn} years ago.", "h/o RLL PNA {hn} yrs ago."),
    ("Past medical history includes COPD and a prior pneumonia in {hyear}.",
     "Hx: COPD, prior PNA {hyear}."),
    ("History of aspiration pneumonia after a stroke in {hyear}.", "h/o aspiration PNA {hyear}."),
    ("History of hospitalization for community-acquired pneumonia in {hmonth} {hyear}.",
     "h/o CAP admission {hmonth} {hyear}."),
    ("Patient with a history of recurrent pneumonias.", "Hx recurrent PNA."),
    ("History of left lower lobe pneumonia, treated in {hyear}.", "h/o LLL PNA {hyear}."),
    ("History of pneumonia as a child.", "Hx childhood PNA."),
    ("History of bronchiectasis with prior pneumonias.", "Hx bronchiectasis, prior PNAs."),
    ("Remote history of pneumonia requiring ICU admission.", "Hx PNA w/ ICU stay."),
    ("Past history: pneumonia in {hyear}, hypertension.", "Hx: HTN, PNA {hyear}."),
)
PMH = (
    "COPD", "hypertension", "type 2 diabetes", "heart failure with reduced ejection fraction",
    "atrial fibrillation", "chronic kidney disease", "lung cancer status post lobectomy",
    "coronary artery disease", "dementia", "rheumatoid arthritis on methotrexate", "asthma",
    "end-stage renal disease on dialysis", "prior stroke", "obstructive sleep apnea",
)
PMH_T = ("COPD", "HTN", "DM2", "HFrEF", "AF", "CKD", "CAD", "dementia", "asthma", "ESRD on HD",
         "prior CVA", "OSA")
PMH_YOUNG = ("asthma", "type 1 diabetes", "obesity", "sickle cell disease", "cystic fibrosis",
             "HIV on antiretroviral therapy", "Crohn disease on infliximab")
PMH_YOUNG_T = ("asthma", "DM1", "obesity", "SCD", "CF", "HIV on ART", "Crohn's on infliximab")
EXAMS = (
    # (modality, structured name, plain name, terse name, portable)
    ("x", "CHEST RADIOGRAPH, PA AND LATERAL", "Chest radiograph, 2 views", "CXR PA/LAT", False),
    ("x", "XR CHEST 2 VIEWS", "Chest X-ray, PA and lateral", "CXR 2V", False),
    ("x", "PORTABLE CHEST X-RAY, AP", "Portable chest X-ray", "Portable CXR", True),
    ("x", "XR CHEST 1 VIEW (PORTABLE)", "Portable AP chest radiograph", "CXR AP portable", True),
    ("c", "CT CHEST WITH IV CONTRAST", "CT chest with contrast", "CT chest w/ contrast", False),
    ("c", "CT CHEST WITHOUT CONTRAST", "CT chest, non-contrast", "CT chest w/o contrast", False),
    ("a", "CT ANGIOGRAPHY OF THE CHEST, PE PROTOCOL", "CT pulmonary angiogram", "CTA chest",
     False),
)
TECH_PA = ("PA and lateral views of the chest.",
           "Frontal and lateral views of the chest were obtained in the upright position.",
           "Two views of the chest, upright.",
           "PA and lateral radiographs of the chest were obtained at {time}.")
TECH_AP = ("Single portable AP view of the chest, patient semi-upright.",
           "Portable AP semi-erect radiograph obtained at {time}.",
           "Single frontal view of the chest obtained at the bedside at {time}, with the patient "
           "supine.",
           "One portable AP upright view of the chest was obtained at {time} in the "
           "{location_l}.")
TECH_AP_T = ("Single AP view, semi-upright.", "Portable AP {time}, pt rotated.",
             "AP view, limited by rotation.")
TECH_CT = (
    "Helical CT of the chest from the thoracic inlet to the adrenal glands {contrast}. Coronal "
    "and sagittal reformats were reviewed.",
    "Axial CT images of the chest were acquired {contrast}, with multiplanar reconstructions. "
    "DLP {dlp} mGy-cm.",
    "Contiguous axial images through the chest {contrast}; lung and soft tissue windows. Dose "
    "reduction technique was used.",
)
TECH_CTA = (
    "CT angiography of the chest was performed after {ml} mL of intravenous iohexol 350 using "
    "bolus tracking. Multiplanar and MIP reconstructions were reviewed.",
    "Pulmonary arterial phase CT of the chest with {ml} mL of intravenous contrast. DLP {dlp} "
    "mGy-cm. Image quality is adequate.",
)
EXAM_NOTE = (
    "Tachypneic, crackles at the {side} base.", "Mild respiratory distress, diffuse wheezes.",
    "Decreased breath sounds at the bases.", "Regular rhythm, no murmur; 1+ leg edema.",
    "Tender left lateral chest wall.", "Coarse breath sounds bilaterally.",
    "Alert, speaking full sentences, no accessory muscle use.",
)
EXAM_NOTE_T = ("Tachypneic, crackles {side} base.", "Diffuse wheezes.", "Decr BS at bases.",
               "RRR, 1+ LE edema.", "Coarse BS b/l.")
PLAN_NOTE = (
    "Admit to medicine. Blood cultures, sputum culture, trend lactate.",
    "Continue home medications and reassess in the morning.",
    "Diuresis with IV furosemide, repeat chest film in the morning.",
    "Supplemental oxygen, nebulizers, follow labs.",
    "Empiric antibiotics pending cultures; follow the final radiology read.",
    "Discussed with the admitting team; telemetry bed.",
    "Pain control, incentive spirometry, PT evaluation.",
)
PLAN_NOTE_T = ("Admit medicine, BCx/sputum cx, trend lactate.", "O2, nebs, f/u labs.",
               "IV Lasix, repeat CXR AM.", "Empiric abx pending cx.", "Admit tele.",
               "Pain ctrl, IS, PT.")


def _alternatives(template: str, rng: random.Random) -> str:
    """Replace every ``[a|b|c]`` group of ``template`` by one alternative, left to right."""
    return re.sub(r"\[([^\[\]]*)\]", lambda m: rng.choice(m[1].split("|")), template)


def _fill(template: str, v: dict, rng: random.Random) -> str:
    return _alternatives(template, rng).format(**v)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("COPD", "CT")."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _concepts(text: str) -> set[str]:
    return {key for key, pattern in _CONCEPT_RES.items() if pattern.search(text)}


def _fmt_date(d: date, style: str) -> str:
    if style == "structured":
        return f"{d:%m/%d/%Y}"
    if style == "titled":
        return d.isoformat()
    if style == "terse":
        return f"{d:%m/%d/%y}"
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


# Time course of a deciding statement; findings and impression never mix two courses.
COURSES = {
    "new": re.compile(r"\b[Nn]ew\b|development|not present on|\bAcute\b"),
    "better": re.compile(r"(?<!no )(?<!no interval )improv|decreased", re.I),
    "worse": re.compile(r"worse|increased|progressive", re.I),
    "same": re.compile(r"unchanged|no significant change|not (?:significantly )?changed|"
                       r"has not changed|no interval|no change|no improvement", re.I),
}
OLD_RE = re.compile(r"persistent|again|known|resolv|cleared|clearing|no longer|improv|decreased|"
                    r"worse|increased|progressive|unchanged|no significant change|"
                    r"not (?:significantly )?changed|has not changed|no interval|no change|"
                    r"no improvement", re.I)
CLEAR_RE = re.compile(r"\bclear\b", re.I)


def _fits(mods: str, mod: str) -> bool:
    """Whether a template for ``mods`` suits the exam: x any radiograph, p portable radiograph,
    c CT."""
    return mod in mods or (mod == "p" and "x" in mods)


def _report(label: str, rng: random.Random) -> str:
    """Build one imaging report (or note excerpt) whose pneumonia status is ``label``."""
    r = rng.randint
    style = rng.choices(("structured", "titled", "narrative", "terse", "note"),
                        weights=(30, 22, 16, 16, 16))[0]
    terse = style == "terse" or (style == "note" and rng.random() < 0.5)
    k = 1 if terse else 0
    if style == "terse":
        exams = [e for e in EXAMS if e[0] == "x"]
    elif style == "note":
        exams = [e for e in EXAMS if e[0] != "a"]
    else:
        exams = list(EXAMS)
    exam = rng.choices(exams, weights=[4 if e[0] == "x" else 3 for e in exams])[0]
    mod = "c" if exam[0] in "ca" else ("p" if exam[4] else "x")
    cta = exam[0] == "a"
    loc = rng.choice(LOCS)
    male = rng.random() < 0.5
    first = rng.choice(MALE_NAMES if male else FEMALE_NAMES)
    last = rng.choice(SURNAMES)
    age = r(45, 96) if rng.random() < 0.85 else r(19, 44)
    day = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 365 * 13))
    prior = day - timedelta(days=r(1, 420))
    hyear = day.year - r(2, 14)
    contrast = "without intravenous contrast"
    if "WITH IV" in exam[1]:
        contrast = rng.choice(("with intravenous contrast",
                               f"after {rng.choice((60, 75, 80))} mL of intravenous iohexol 350"))
    v = {
        "loc": loc[0], "adj": loc[1], "Adj": _cap(loc[1]), "abbr": loc[2],
        "other": {"right": "left", "left": "right"}.get(loc[3], ""),
        "O": {"right": "L", "left": "R"}.get(loc[3], ""),
        "mm": r(4, 9), "mm2": r(2, 4), "rib": rng.choice(("5th", "6th", "7th", "8th", "9th")),
        "ett": f"{r(25, 60) / 10:.1f}", "ser": r(2, 6), "img": r(20, 160),
        "adr": f"{r(11, 24) / 10:.1f}", "node": r(11, 14), "aorta": f"{r(40, 46) / 10:.1f}",
        "t": r(6, 12), "pe_side": rng.choice(("right", "left")),
        "time": f"{r(0, 23):02d}:{r(0, 59):02d}", "dlp": r(180, 620),
        "ml": rng.choice((60, 70, 75, 80, 90)), "hyear": hyear, "hn": day.year - hyear,
        "hmonth": MONTHS[r(0, 11)], "side": rng.choice(("right", "left")),
        "contrast": contrast, "pdate": _fmt_date(prior, style), "pct": r(2, 5) * 10,
        "pdate2": _fmt_date(prior - timedelta(days=r(30, 900)), style),
    }
    for key, words in (("deg", ("mild", "moderate", "marked")), ("aside", ("right", "left")),
                       ("eside", ("right", "left")), ("nside", ("right", "left")),
                       ("rside", ("right", "left")), ("hsize", ("small", "moderate"))):
        v[key] = rng.choice(words)
        v[key[0].upper() + key[1:]] = _cap(v[key])
    for key in ("aside", "eside", "nside", "rside"):
        v[key[0].upper() + "s"] = v[key][0].upper()

    # -- the deciding statements (already in the rendered register: full or terse) -----------
    decide_lung: list[str] = []
    decide_imp: list[str] = []
    if label in POOLS:
        find_p, find_t, imp_p, imp_t, bare_p, bare_t = POOLS[label]
        mode = rng.choices(("both", "findings", "impression"),
                           weights={"PRESENT": (60, 20, 20), "ABSENT": (50, 30, 20),
                                    "POSSIBLE": (50, 20, 30)}[label])[0]
        for _ in range(30):
            if mode == "impression":
                lung = _fill(rng.choice(bare_t if terse else bare_p), v, rng)
            elif terse:
                lung = _fill(rng.choice(find_t), v, rng)
            else:
                lung = _fill(rng.choice([t for m, t in find_p if _fits(m, mod)]), v, rng)
            decide_lung = [_cap(lung)]
            decide_imp = []
            if mode != "findings":
                tpl = rng.choice(imp_t) if terse else rng.choice(
                    [t for m, t in imp_p if _fits(m, mod)])
                decide_imp = [_cap(_fill(tpl, v, rng))]
            joined = " ".join(decide_lung + decide_imp)
            courses = {name for name, pattern in COURSES.items() if pattern.search(joined)}
            if len(courses) < 2 and not ("new" in courses and OLD_RE.search(joined)):
                break
        if mode == "findings" and label == "ABSENT" and rng.random() < 0.5:
            decide_imp.append("No acute process." if terse else rng.choice(ABSENT_EXTRA_IMP))
        bilateral = re.search(r"bilateral|multifocal", " ".join(decide_lung + decide_imp), re.I)
        if label != "ABSENT" and v["other"] and not bilateral and rng.random() < 0.3:
            decide_lung.append(_fill(rng.choice(CONTRALATERAL_T if terse else CONTRALATERAL),
                                     v, rng))
    decided = " ".join(decide_lung + decide_imp)
    prior_pna = (label in ("PRESENT", "ABSENT") and bool(OLD_RE.search(decided))
                 and not COURSES["new"].search(decided) and rng.random() < 0.5)
    lung_clear = bool(CLEAR_RE.search(decided))

    portable = mod == "p"
    devices_ok = [d for d in DEVICES if portable or d[3]]
    n_dev = rng.choice((0, 1, 2, 2, 3) if portable else (0, 0, 0, 1))
    device_rows = rng.sample(devices_ok, n_dev)
    devices = [(d[k].format(**v), d[2]) for d in device_rows]

    # -- other findings: at most one per category and per concept ----------------------------
    used = _concepts(decided)
    for d in device_rows:
        used |= _concepts(d[0])
    pool: list[tuple[str, str, str, frozenset[str]]] = []  # (category, text, impression, concepts)
    available = [cat for cat in OTHERS if rng.random() < CATEGORY_SHARE[cat]]
    rng.shuffle(available)
    for cat in available + [cat for cat in OTHERS if cat not in available]:
        if lung_clear and SECTION_OF[cat] == "Lungs":
            continue
        entries = [e for e in OTHERS[cat] if _fits(e[0], mod) and (e[2] or not terse)]
        rng.shuffle(entries)
        for _, full, short, imp in entries:
            if male and re.search(r"breast|mastectomy", full):
                continue
            pool.append((cat, _fill(short if terse else full, v, rng), imp.format(**v),
                         frozenset(_concepts(full))))
    chosen: list[tuple[str, str, str]] = []  # (category, text, impression)
    cats_used: set[str] = set()

    def take(entry: tuple[str, str, str, frozenset[str]]) -> bool:
        cat, text, imp, concepts = entry
        if cat in cats_used or concepts & used:
            return False
        cats_used.add(cat)
        used.update(concepts)
        chosen.append((cat, text, imp))
        return True

    if rng.random() < (0.35 if label == "POSSIBLE" else 0.6):
        for entry in pool:
            if UNCERTAIN_OTHER.search(entry[1]) and take(entry):
                break
    for wanted in ("heart", "pleura") + (("nodes", "abdomen") if mod == "c" else ()):
        if rng.random() < 0.9:
            for entry in pool:
                if entry[0] == wanted and take(entry):
                    break
    if not decide_imp:
        for entry in pool:
            if entry[2] and take(entry):
                break
    core = len(chosen)
    pe = None
    if cta:
        full, imp = rng.choice(PE_LINES)
        pe = (full.format(**v), imp.format(**v))

    # -- indication, history ------------------------------------------------------------------
    line_symptoms = [d[4] for d in device_rows if d[4]]
    if style != "note" and line_symptoms and rng.random() < 0.5:
        symptom = rng.choice(line_symptoms)
        ask = rng.choice((("assess line position", "line position?"),
                          ("rule out pneumothorax", "r/o PTX"), ("", "")))
    else:
        symptom = rng.choice(SYMPTOMS)
        ask = rng.choice(ASK_PLAIN[symptom[2]])
        if cta and rng.random() < 0.6:
            ask = ("evaluate for pulmonary embolism", "r/o PE")
    if label != "NOT MENTIONED" and rng.random() < 0.5:
        ask = rng.choice(ASK_TARGET)
    history = ""
    if rng.random() < (0.32 if label == "NOT MENTIONED" else 0.2):
        history = rng.choice(HISTORY)[k].format(**v)
    sex_word, sex_letter = ("man", "M") if male else ("woman", "F")
    sym_full = symptom[0] + (f"; {ask[0]}" if ask[0] else "")
    sym_terse = symptom[1] + (f", {ask[1]}" if ask[1] else "")
    young = age < 45
    pmh_full = rng.sample(PMH_YOUNG if young else PMH, r(1, 2 if young else 3))
    ind_full = rng.choice((
        f"{age}-year-old {sex_word} with {sym_full}.", _cap(sym_full) + ".",
        f"{age}-year-old {sex_word} with a history of {', '.join(pmh_full)}, now with "
        f"{sym_full}.",
    ))
    ind_terse = f"{age}{sex_letter}, {sym_terse}."

    # -- impression ---------------------------------------------------------------------------
    others_imp = [imp for _, _, imp in chosen[:core] if imp]
    rng.shuffle(others_imp)
    dev_imp = [imp for _, imp in devices if imp]
    extra = others_imp[: rng.choice((0, 1, 1, 2, 2, 3))] + dev_imp[: rng.choice((0, 1))]
    if pe:
        extra.insert(0, pe[1])
    if decide_imp and rng.random() < 0.3:
        impression = extra[:1] + decide_imp + extra[1:]
    else:
        impression = decide_imp + extra
    if not impression:
        impression = others_imp[:1] or dev_imp[:1] or [
            rng.choice(("Findings as above.", "No pneumothorax."))]

    # -- layout choices -----------------------------------------------------------------------
    rad = rng.choice(RADIOLOGISTS)
    colleague = rng.choice(SURNAMES)
    numbered = rng.random() < 0.5
    decide_first = rng.random() < 0.6
    sections_on = rng.random() < 0.5
    indication_word = rng.choice(("Indication", "Clinical history", "Reason for exam"))
    target_words = round(rng.triangular(MIN_WORDS + 5, MAX_WORDS - 15, MIN_WORDS + 45))
    attest = rng.random() < 0.3
    called = rng.random() < 0.15
    ordering = rng.random() < 0.5
    signed_long = rng.random() < 0.4
    first_rad = rng.choice(MALE_NAMES + FEMALE_NAMES)
    resident = rng.choice(RADIOLOGISTS)
    rec_terse = rng.choice(("clinical correlation", "repeat CXR in AM if clinically indicated",
                            "compare w/ outside films when available", "none",
                            "PA/lat when pt able", "f/u per primary team"))
    location = rng.choice(("Emergency Department", "ICU", "Medical ward", "Surgical ward",
                           "Cardiac ICU") if portable else
                          ("Emergency Department", "Medical ward", "Outpatient clinic"))
    v["location_l"] = location if "ICU" in location else location.lower()
    compare_anyway = rng.random() < 0.5
    cmp_pick = r(0, 4)
    prior_mod = "chest radiograph" if mod != "c" or rng.random() < 0.4 else "CT chest"
    mrn, acc = r(1000000, 9999999), r(10000000, 99999999)
    exam_note = rng.choice(EXAM_NOTE_T if terse else EXAM_NOTE).format(**v)
    plan = rng.choice(PLAN_NOTE_T if terse else PLAN_NOTE)
    pmh = rng.sample((PMH_YOUNG_T if terse else PMH_YOUNG) if young else
                     (PMH_T if terse else PMH), r(1, 2 if young else 3))
    if mod == "c":
        tech_line = rng.choice(TECH_CTA if cta else TECH_CT).format(**v)
    elif portable:
        tech_line = rng.choice(TECH_AP_T if terse else TECH_AP).format(**v)
    else:
        tech_line = rng.choice(TECH_PA).format(**v)
    vitals = (f"T {r(966, 1034) / 10:.1f} F, HR {r(62, 128)}, BP {r(92, 172)}/{r(48, 96)}, "
              f"RR {r(14, 30)}, SpO2 {r(84, 99)}% on "
              f"{rng.choice(('room air', '2 L nasal cannula', '4 L nasal cannula'))}")
    labs = f"WBC {r(40, 240) / 10:.1f}, lactate {r(8, 42) / 10:.1f}"
    note_kind = rng.choice(("ED PROVIDER NOTE", "ADMISSION NOTE (excerpt)",
                            "Hospital medicine admission H&P (excerpt)"))
    sign_date = _fmt_date(day, style)
    order = ("Quality", "Lines and tubes", "Pulmonary arteries", "Heart and vessels", "Lungs",
             "Pleura", "Mediastinum", "Upper abdomen", "Bones", "Soft tissues")

    def render() -> str:
        grouped: dict[str, list[str]] = {name: [] for name in order}
        grouped["Lines and tubes"] = [text for text, _ in devices]
        if pe:
            grouped["Pulmonary arteries"] = [pe[0]]
        lung_others = [text for cat, text, _ in chosen if SECTION_OF[cat] == "Lungs"]
        grouped["Lungs"] = (decide_lung + lung_others if decide_first
                            else lung_others + decide_lung)
        for cat, text, _ in chosen:
            if SECTION_OF[cat] != "Lungs":
                grouped[SECTION_OF[cat]].append(text)
        everything = [t for name in order for t in grouped[name]] + impression
        needs_prior = prior_pna or any(NEEDS_PRIOR.search(t) or v["pdate"] in t
                                       for t in everything)
        if needs_prior or compare_anyway:
            cmp_full = (f"{_cap(prior_mod)} dated {v['pdate']}.",
                        f"{_cap(prior_mod)} of {v['pdate']}.",
                        f"Prior {prior_mod} from {v['pdate']}.",
                        f"Multiple prior studies, most recent {prior_mod} {v['pdate']}.",
                        f"{_cap(prior_mod)} dated {v['pdate']} and chest radiograph dated "
                        f"{v['pdate2']}.")[cmp_pick]
            cmp_terse = v["pdate"]
            if prior_pna:
                cmp_full = cmp_full[:-1] + f", which showed {loc[1]} pneumonia."
                cmp_terse += f" ({loc[2]} PNA)"
        else:
            cmp_full = ("None.", "None available.", "No prior imaging available.",
                        "None.", "None; no prior chest imaging in our system.")[cmp_pick]
            cmp_terse = "none"

        if style in ("structured", "titled"):
            up = style == "structured"

            def h(name: str) -> str:
                return name.upper() if up else name

            if up:
                lines = [f"EXAMINATION: {exam[1]}", f"DATE: {sign_date}   ACCESSION: {acc}",
                         f"PATIENT: {last.upper()}, {first.upper()}   MRN: {mrn}   "
                         f"DOB: {day.year - age}"]
                if ordering:
                    lines.append(f"ORDERING PHYSICIAN: Dr. {colleague}   LOCATION: "
                                 f"{location.upper()}")
            else:
                lines = [f"Exam: {exam[2]}",
                         f"Date: {sign_date} | Patient: {first} {last} | MRN {mrn}"]
                if ordering:
                    lines.append(f"Ordered by Dr. {colleague} ({location})")
            lines.append(f"{h(indication_word)}: {ind_full}" + (f" {history}" if history else ""))
            lines.append(f"{h('Comparison')}: {cmp_full}")
            lines.append(f"{h('Technique')}: {tech_line}")
            lines.append(f"{h('Findings')}:")
            for name in order:
                if grouped[name]:
                    lines.append((f"{name}: " if sections_on else "") + " ".join(grouped[name]))
            lines.append(f"{h('Impression')}:")
            if numbered and len(impression) > 1:
                lines.extend(f"{i + 1}. {t}" for i, t in enumerate(impression))
            else:
                lines.append(" ".join(impression))
            if called:
                lines.append(f"Findings discussed with Dr. {colleague} at {v['time']}.")
            if attest:
                lines.append("I have personally reviewed the images and agree with the "
                             "findings above.")
            if signed_long:
                lines.append(f"Electronically signed by Dr. {first_rad} {rad}, MD, on {sign_date} "
                             f"at {v['time']}.")
            else:
                lines.append(f"{'Dictated by' if up else 'Reported by'}: Dr. {rad}, {sign_date} "
                             f"{v['time']}")
            return "\n".join(lines)

        if style == "narrative":
            intro = (f"{exam[2]} performed on {sign_date} for {first} {last} ({age}"
                     f"{sex_letter}). The study was requested for {_lower_first(sym_full)}."
                     + (f" Known {', '.join(pmh_full)}." if ordering else ""))
            cmp_sentence = (f"Comparison: {cmp_full}" if needs_prior or compare_anyway
                            else "No prior studies are available for comparison.")
            tail = f"Reported by Dr. {rad}."
            if attest:
                tail = "Images reviewed by the attending radiologist. " + tail
            if called:
                tail = f"Results called to Dr. {colleague} at {v['time']}. " + tail
            return "\n\n".join([
                intro + (f" {history}" if history else ""),
                f"{cmp_sentence} {tech_line}",
                " ".join(t for name in order for t in grouped[name]),
                ("Conclusion: " if numbered else "Impression: ") + " ".join(impression),
                tail,
            ])

        if style == "terse":
            short = {"Quality": "Qual", "Lines and tubes": "Lines", "Pulmonary arteries": "PA",
                     "Heart and vessels": "Heart", "Lungs": "Lungs", "Pleura": "Pleura",
                     "Mediastinum": "Mediast", "Upper abdomen": "Abd", "Bones": "Bones",
                     "Soft tissues": "ST"}
            lines = [f"{exam[3]} {sign_date} {v['time']}", f"Pt: {last.upper()} {first[0]}.  "
                     f"MRN {mrn}  DOB {day.year - age}",
                     f"Loc: {location}. Ordered by Dr. {colleague}.",
                     f"Ind: {ind_terse}" + (f" {history}" if history else ""),
                     f"PMH: {', '.join(pmh)}.", f"Comp: {cmp_terse}.", f"Tech: {tech_line}"]
            for name in order:
                if grouped[name]:
                    lines.append(f"{short[name]}: " + " ".join(grouped[name]))
            if numbered and len(impression) > 1:
                lines.append("IMP: " + " ".join(f"({i + 1}) {t}" for i, t in
                                                 enumerate(impression)))
            else:
                lines.append(("IMP: " if numbered else "Impression: ") + " ".join(impression))
            lines.append(f"Rec: {rec_terse}.")
            if called:
                lines.append(f"D/w Dr. {colleague} {v['time']}.")
            elif ordering:
                lines.append(f"Wet read given to {location} at {v['time']}; no discrepancy with "
                             "the final read.")
            if attest:
                lines.append(f"Prelim read: Dr. {first_rad[0]}. {resident} (resident). Attending "
                             f"addendum, Dr. {rad}: agree with the preliminary interpretation.")
            else:
                lines.append(f"Prelim read: Dr. {rad}.")
            return "\n".join(lines)

        # ED / admission note excerpt quoting the radiology read
        prose = " ".join(t for name in order for t in grouped[name])
        if terse:
            hpi = (f"HPI: {age}{sex_letter} w/ {', '.join(pmh)} p/w {sym_terse}."
                   + (f" {history}" if history else ""))
            read = f"Imaging: {exam[3]} today, rads read: {prose}"
            imp_line = "Rads impression: " + " ".join(impression)
        else:
            hpi = (f"HPI: {age}-year-old {sex_word} with {', '.join(pmh)} presenting with "
                   f"{sym_full}." + (f" {history}" if history else ""))
            read = f"Imaging: {exam[2]} today, read by radiology: {prose}"
            imp_line = "Impression per radiology: " + " ".join(impression)
        return "\n".join([f"{note_kind} - {sign_date}", f"Patient: {first} {last}, MRN {mrn}",
                          hpi, f"Vitals: {vitals}.", f"Exam: {exam_note}", f"Labs: {labs}.",
                          read, imp_line, f"Plan: {plan}"])

    text = render()
    for entry in pool:
        words = len(text.split())
        if words >= target_words or (entry[0] not in available and words >= MIN_WORDS + 5):
            break
        if take(entry):
            text = render()
    while len(text.split()) > MAX_WORDS and len(chosen) > core:
        chosen.pop()
        text = render()
    return text


def _label_plan(n: int, rng: random.Random) -> list[str]:
    """Exact per-class counts for the target shares (every class at least once), shuffled."""
    counts = {label: max(1, round(TARGET_SHARE[label] * n)) for label in LABELS[:3]}
    counts["NOT MENTIONED"] = max(0, n - sum(counts.values()))
    plan = [label for label in LABELS for _ in range(counts[label])][:n]
    rng.shuffle(plan)
    return plan


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict]:
    """Return ``n`` synthetic reports as ``{"id", "text", "pneumonia"}`` dicts.

    Pure and deterministic: the same ``(n, seed)`` always gives the same records.
    """
    rng = random.Random(seed)
    records = []
    for i, label in enumerate(_label_plan(n, rng)):
        for _ in range(50):
            text = _report(label, rng)
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
                break
        records.append({"id": f"pna-{i + 1:04d}", "text": text, "pneumonia": label})
    return records


TASK_YAML = """\
# Assertion status of pneumonia on the current chest imaging study (present / negated /
# uncertain / not mentioned).
# Written by `python -m mlxmed.demo_data`; edit the generator, not this file.
name: pneumonia_status
kind: classification
language: en
system: "You are a careful radiology documentation specialist. You answer only from the report."
instruction: >-
  Read the chest imaging report below (or the imaging part of an ED or admission note) and
  classify how the current study reports pneumonia. Only the findings and impression of the
  current study count: the indication or reason for the exam, the patient's history and what
  earlier studies showed do not. Answer with the label only.
text_field: text
id_field: id
label_field: pneumonia
labels:
  - name: PRESENT
    definition: >-
      The findings or impression state pneumonia or a synonym (consolidation, infiltrate,
      airspace disease consistent with infection) on the current study, including persistent,
      unchanged or improving pneumonia, even if other lobes are clear.
  - name: ABSENT
    definition: >-
      The findings or impression explicitly negate pneumonia or a synonym on the current study
      ("no focal consolidation", "negative for infiltrate") or say an earlier pneumonia has
      resolved, and nothing is called possible.
  - name: POSSIBLE
    definition: >-
      The report calls pneumonia on the current study uncertain ("cannot be excluded",
      "possible", "may represent", "atelectasis versus pneumonia", "suspicious for") and
      nowhere states it as present.
  - name: NOT MENTIONED
    definition: >-
      The findings and impression of the current study do not address pneumonia or any synonym
      at all. A mention only in the indication, the history or a prior study does not count.
long_notes: truncate_middle
max_seq_length: 1024
"""


def readme(records: list[dict], n: int, seed: int) -> str:
    """The README of the example folder, with the class distribution of ``records``."""
    counts = {label: sum(r["pneumonia"] == label for r in records) for label in LABELS}
    rows = "\n".join(
        f"| {label} | {counts[label]} | {100 * counts[label] / len(records):.1f}% |"
        for label in LABELS
    )
    words = [len(r["text"].split()) for r in records]
    return f"""\
# Pneumonia on chest imaging (synthetic, English)

{len(records)} synthetic chest imaging reports (`notes.csv`: `id,text,pneumonia`): chest
radiographs (PA/lateral and portable), CT chest, CT angiography of the chest, and ED /
admission note excerpts that quote the radiology read. Each is labelled with the assertion
status of pneumonia on the current study (see `task.yaml`). Every report is generated: names,
dates, sizes and devices are random draws, no real patient or record is involved. Reports have
{min(words)}-{max(words)} words (mean {sum(words) / len(words):.0f}).

| label | reports | share |
|---|---|---|
{rows}

The two rare classes (ABSENT, POSSIBLE) are as rare as in real data. A keyword rule does not
solve the task; the reports carry traps in every class: negated and uncertain *other* findings
("no pleural effusion or pneumothorax", "possible small left effusion", "cannot exclude a tiny
nodule", "atelectasis versus scarring"); pneumonia named only in the indication ("r/o
pneumonia", "?PNA"), the history ("history of pneumonia in 2019") or the comparison study;
negation in the same sentence as a positive finding ("no effusion; right lower lobe
consolidation consistent with pneumonia", "no significant change in the consolidation": both
PRESENT) and positive findings next to a negated target ("cardiomegaly and pulmonary edema
without focal consolidation": ABSENT); comparisons ("interval resolution of the pneumonia":
ABSENT, "persistent consolidation": PRESENT, "new patchy opacity which may represent
aspiration": POSSIBLE); structured, narrative and telegraphic styles (CXR, RLL, PNA, c/w, w/o).

Rules: only the findings and impression of the current study decide; when they hold several
statements, PRESENT beats POSSIBLE beats ABSENT ("no consolidation on the right; left basilar
opacity, atelectasis versus pneumonia" is POSSIBLE). "Unlikely", "probable" and "likely" are
never used for pneumonia, and NOT MENTIONED reports never say "lungs are clear" or "no acute
cardiopulmonary process".

Regenerate (n={n}, seed={seed}) with:

    python -m mlxmed.demo_data
"""


def write(out_dir: Path, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Path:
    """Write ``notes.csv`` (``id,text,pneumonia``), ``task.yaml`` and ``README.md`` into
    ``out_dir``, each atomically; return the path of ``notes.csv``."""
    records = generate(n, seed)
    return write_example(out_dir, "notes.csv", records, TASK_YAML, readme(records, n, seed))
