"""Text samples for tokenizer and logits parity tests: English, German, digit-heavy, odd."""

TOKENIZER_SAMPLES = [
    "The patient is a 67-year-old man admitted with chest pain.",
    "He quit smoking 3 months ago; previously 1 pack per day for 20 years (20 pack-years).",
    "Denies alcohol or illicit drug use. Father was a heavy smoker.",
    "BP 142/88 mmHg, HR 76/min, SpO2 97 % on room air, T 37.8 °C.",
    "Troponin T 0.045 ng/mL -> 0.112 ng/mL; creatinine 1.23 mg/dL; eGFR 54 mL/min/1.73m².",
    "Metoprolol succinate 47.5 mg p.o. b.i.d.; ASA 100 mg q.d.; atorvastatin 40 mg q.h.s.",
    "LV-EF 55 %, RV-EF 48%, LVEDV 145 ml, TAPSE 17 mm.",
    "EF ca. 35% (biplan nach Simpson), hochgradig eingeschränkte LV-Funktion.",
    "Befund: Sinusrhythmus, keine relevante Aortenklappenstenose, MI II-III°.",
    "Beurteilung: Dilatative Kardiomyopathie; Z.n. Myokardinfarkt 03/2019; V.a. Amyloidose.",
    "Überweisung wegen Belastungsdyspnoe NYHA III und Ödemen; Gewicht 92,5 kg.",
    "Größe 1,78 m, BMI 29,2 kg/m², Blutdruck 135/80 mmHg.",
    "Datum: 2024-03-15 14:32; Pat.-Nr. 00123456789; Zimmer 4.12b.",
    "12345678901234567890 3.14159 2,71828 1e-5 0x1F 1/2 ½ 10⁻³",
    "Tel.: +49 (0)251 83-12345, Fax -12346",
    "    indented line\n\ttabbed line\r\nwindows newline\n\n\nthree newlines",
    "ALL CAPS DISCHARGE SUMMARY: CURRENT SMOKER / PAST SMOKER / NON-SMOKER / UNKNOWN",
    "Emojis and symbols: ✓ ✗ → ← ≥ ≤ ± µg «quoted» “curly” ‘single’ — dash",
    "Mixed: Patient (m, 54 J.) mit KHK-3-GE, PCI/Stent RIVA 2x (2018, 2021).",
    "Français: le patient fume 10 cigarettes par jour. Español: no fuma.",
    "Code-like: {\"lv_ef\": 55, \"rhythm\": \"Sinusrhythmus\", \"diagnoses\": []}",
    "a",
    "",
    "  leading and trailing spaces  ",
]

LONG_CLINICAL_TEXT = (
    "DISCHARGE SUMMARY. The patient is a 67-year-old man with a history of hypertension, "
    "type 2 diabetes mellitus and hyperlipidaemia who presented with two days of substernal "
    "chest pressure radiating to the left arm, associated with diaphoresis and shortness of "
    "breath. He quit smoking in 2015 after a 40 pack-year history. Initial troponin was "
    "0.045 ng/mL, rising to 0.112 ng/mL. ECG showed ST depressions in V4-V6. Coronary "
    "angiography revealed a 90% stenosis of the proximal LAD, treated with a drug-eluting "
    "stent. Echocardiography: LV-EF 45 %, hypokinesia of the anterior wall, mild mitral "
    "regurgitation. He was started on aspirin 100 mg daily, ticagrelor 90 mg twice daily, "
    "atorvastatin 80 mg, metoprolol 47.5 mg and ramipril 2.5 mg. Blood pressure at discharge "
    "128/76 mmHg, heart rate 68/min. Befund: Sinusrhythmus, normale RV-Funktion, keine "
    "Aortenklappenstenose. Follow-up in the cardiology clinic in 6 weeks with repeat lipid "
    "panel, creatinine and potassium; cardiac rehabilitation referral placed."
)
