"""Static reference data of the generator: payers, departments, names, CPT catalogue, ICD codes.

Everything here is small, hand-written and the same for every seed; the random parts of the
generator only choose among these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import simple_icd_10_cm as icd

HOSPITALS: tuple[str, str] = ("hospital_a", "hospital_b")
CLAIM_FILE_PREFIX: dict[str, str] = {"hospital_a": "hospital1", "hospital_b": "hospital2"}


@dataclass(frozen=True)
class Payer:
    code: str
    name: str
    payor_type: str  # Government / Private / Self-pay
    line_of_business: str  # Commercial / Medicaid / Medicare / Self-Pay
    amount_type: str  # Insurance / Medicaid / Medicare / Self-pay
    allowed_low: float  # allowed amount as a share of the charge
    allowed_high: float
    lag_days: float  # mean days from (re)submission to adjudication
    denial_logit: float  # payer effect in the denial model
    coinsurance: float


PAYERS: tuple[Payer, ...] = (
    Payer("PYR001", "Aetna", "Private", "Commercial", "Insurance", 0.55, 0.75, 24, 0.15, 0.2),
    Payer("PYR002", "BlueCross", "Private", "Commercial", "Insurance", 0.55, 0.80, 21, 0.0, 0.2),
    Payer("PYR003", "Cigna", "Private", "Commercial", "Insurance", 0.50, 0.75, 26, 0.10, 0.2),
    Payer("PYR004", "Humana", "Private", "Commercial", "Insurance", 0.50, 0.70, 30, 0.30, 0.1),
    Payer("PYR005", "Medicaid", "Government", "Medicaid", "Medicaid", 0.28, 0.40, 45, 0.45, 0.0),
    Payer("PYR006", "Medicare", "Government", "Medicare", "Medicare", 0.35, 0.50, 16, -0.35, 0.2),
    Payer(
        "PYR007",
        "UnitedHealthcare",
        "Private",
        "Commercial",
        "Insurance",
        0.55,
        0.78,
        28,
        0.40,
        0.2,
    ),
    Payer("PYR008", "Self-pay", "Self-pay", "Self-Pay", "Self-pay", 0.55, 0.65, 60, 0.0, 0.0),
)
COMMERCIAL = np.array([0, 1, 2, 3, 6])
MEDICAID = 4
MEDICARE = 5
SELF_PAY = 7

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    # (department name, provider specialization)
    ("Emergency Medicine", "Emergency Medicine"),
    ("Family Medicine", "Family Medicine"),
    ("Internal Medicine", "Internal Medicine"),
    ("Pediatrics", "Pediatrics"),
    ("Cardiology", "Cardiologist"),
    ("Orthopedics", "Orthopedic Surgeon"),
    ("General Surgery", "General Surgeon"),
    ("Obstetrics and Gynecology", "Obstetrician-Gynecologist"),
    ("Neurology", "Neurologist"),
    ("Oncology", "Oncologist"),
    ("Gastroenterology", "Gastroenterologist"),
    ("Radiology", "Radiologist"),
    ("Psychiatry", "Psychiatrist"),
    ("Dermatology", "Dermatologist"),
    ("Pulmonology", "Pulmonologist"),
    ("Urology", "Urologist"),
)
ER_DEPT = 0
PRIMARY_CARE_DEPTS = (1, 2, 3)
# Hospital B numbers its departments in another order: DEPT003 is not the same department.
DEPT_ORDER: dict[str, tuple[int, ...]] = {
    "hospital_a": tuple(range(len(DEPARTMENTS))),
    "hospital_b": (2, 0, 5, 1, 4, 3, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14),
}
TAXONOMY: dict[str, str] = {
    "Emergency Medicine": "207P00000X",
    "Family Medicine": "207Q00000X",
    "Internal Medicine": "207R00000X",
    "Pediatrics": "208000000X",
    "Cardiologist": "207RC0000X",
    "Orthopedic Surgeon": "207X00000X",
    "General Surgeon": "208600000X",
    "Obstetrician-Gynecologist": "207V00000X",
    "Neurologist": "2084N0400X",
    "Oncologist": "207RX0202X",
    "Gastroenterologist": "207RG0100X",
    "Radiologist": "2085R0202X",
    "Psychiatrist": "2084P0800X",
    "Dermatologist": "207N00000X",
    "Pulmonologist": "207RP1001X",
    "Urologist": "208800000X",
}

ENCOUNTER_TYPES = ("Emergency", "Inpatient", "Outpatient", "Routine Checkup", "Telemedicine")
ENCOUNTER_TYPE_P = (0.12, 0.08, 0.38, 0.24, 0.18)
VISIT_TYPES = ("Consultation", "Emergency", "Follow-up", "Routine")

STATUS_NAMES = ("Pending", "Rejected", "Approved", "Paid", "Denied")
PENDING, REJECTED, APPROVED, PAID, DENIED = range(5)
REASON_CODES = ("", "CO-16", "CO-50", "CO-97", "CO-197", "CO-29", "PR-204", "CO-18", "CO-31")
R_NONE, R_CO16, R_CO50, R_CO97, R_CO197, R_CO29, R_PR204, R_CO18, R_CO31 = range(9)

FIRST_NAMES = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Dorothy",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "Gregory",
    "Helen",
    "Alexander",
    "Debra",
    "Patrick",
    "Rachel",
    "Frank",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Maria",
    "Dennis",
    "Olivia",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Julie",
    "Jose",
    "Joyce",
    "Adam",
    "Victoria",
    "Nathan",
    "Kelly",
    "Henry",
    "Christina",
    "Zachary",
    "Lauren",
    "Douglas",
    "Joan",
    "Peter",
    "Evelyn",
    "Kyle",
    "Judith",
    "Noah",
    "Megan",
    "Ethan",
    "Andrea",
    "Jeremy",
    "Cheryl",
    "Walter",
    "Hannah",
    "Christian",
    "Jacqueline",
    "Keith",
    "Martha",
    "Roger",
    "Gloria",
    "Terry",
    "Teresa",
    "Austin",
    "Ann",
    "Sean",
    "Sara",
    "Gerald",
    "Madison",
    "Carl",
    "Frances",
    "Harold",
    "Kathryn",
    "Dylan",
    "Janice",
    "Arthur",
    "Jean",
    "Lawrence",
    "Abigail",
    "Jordan",
    "Alice",
    "Jesse",
    "Judy",
    "Bryan",
    "Sophia",
    "Billy",
    "Grace",
    "Bruce",
    "Denise",
    "Gabriel",
    "Amber",
    "Joe",
    "Doris",
    "Logan",
    "Marilyn",
    "Alan",
    "Danielle",
    "Juan",
    "Beverly",
    "Albert",
    "Isabella",
    "Willie",
    "Theresa",
    "Elijah",
    "Diana",
    "Wayne",
    "Natalie",
    "Randy",
    "Brittany",
    "Vincent",
    "Charlotte",
    "Mason",
    "Marie",
    "Roy",
    "Kayla",
    "Ralph",
    "Alexis",
    "Bobby",
    "Lori",
    "Russell",
    "Priya",
    "Wei",
    "Mohammed",
    "Fatima",
    "Hiroshi",
    "Aiko",
    "Carlos",
    "Lucia",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "O'Brien",
    "O'Connor",
    "Yamamoto",
    "Singh",
    "Kowalski",
    "Novak",
    "Schultz",
    "Haddad",
    "Okafor",
]
STREETS = [
    "Oak St",
    "Maple Ave",
    "Pine Rd",
    "Cedar Ln",
    "Elm St",
    "Washington Blvd",
    "Lake Dr",
    "Hill St",
    "Park Ave",
    "Main St",
    "Sunset Blvd",
    "River Rd",
    "Church St",
    "Highland Ave",
    "Forest Dr",
    "Meadow Ln",
    "Spring St",
    "Lincoln Ave",
    "Walnut St",
    "Chestnut St",
    "Franklin St",
    "Jefferson Ave",
    "Mill Rd",
    "Ridge Rd",
    "Valley View Dr",
]
CITIES: tuple[tuple[str, str, str, str], ...] = (
    # (city, state, zip prefix, phone area code)
    ("Springfield", "IL", "627", "217"),
    ("Peoria", "IL", "616", "309"),
    ("Chicago", "IL", "606", "312"),
    ("Naperville", "IL", "605", "630"),
    ("Madison", "WI", "537", "608"),
    ("Milwaukee", "WI", "532", "414"),
    ("Indianapolis", "IN", "462", "317"),
    ("Columbus", "OH", "432", "614"),
    ("St. Louis", "MO", "631", "314"),
    ("Des Moines", "IA", "503", "515"),
    ("Minneapolis", "MN", "554", "612"),
    ("Detroit", "MI", "482", "313"),
)
CREDENTIALS = ("MD", "M.D.", "DO", "D.O.", "MD, PhD", "NP", "PA-C")
NAME_PREFIX = ("Dr.", "Dr.", "--", "Mr.", "Ms.")

# CPT catalogue: code | category | description | base charge in dollars.
# Descriptions are short paraphrases written for this project.
_CPT_TEXT = """
36415|Laboratory|Routine venipuncture for blood collection|18
80047|Laboratory|Basic metabolic panel with ionized calcium|48
80048|Laboratory|Basic metabolic panel|40
80050|Laboratory|General health panel|95
80053|Laboratory|Comprehensive metabolic panel|58
80061|Laboratory|Lipid panel|62
80069|Laboratory|Renal function panel|45
80076|Laboratory|Hepatic function panel|44
81001|Laboratory|Urinalysis automated with microscopy|22
81002|Laboratory|Urinalysis non-automated without microscopy|14
81003|Laboratory|Urinalysis automated without microscopy|16
82040|Laboratory|Albumin serum|18
82150|Laboratory|Amylase|24
82247|Laboratory|Bilirubin total|19
82310|Laboratory|Calcium total|17
82565|Laboratory|Creatinine blood|19
82607|Laboratory|Vitamin B-12|55
82728|Laboratory|Ferritin|48
82947|Laboratory|Glucose quantitative blood|15
83036|Laboratory|Hemoglobin A1c|42
83540|Laboratory|Iron|25
83690|Laboratory|Lipase|28
83880|Laboratory|Natriuretic peptide|120
84100|Laboratory|Phosphorus inorganic|17
84132|Laboratory|Potassium serum|16
84153|Laboratory|Prostate specific antigen total|68
84439|Laboratory|Thyroxine free|38
84443|Laboratory|Thyroid stimulating hormone|58
84484|Laboratory|Troponin quantitative|74
85025|Laboratory|Complete blood count with automated differential|34
85027|Laboratory|Complete blood count automated|28
85610|Laboratory|Prothrombin time|19
85730|Laboratory|Partial thromboplastin time|26
86140|Laboratory|C-reactive protein|26
86580|Laboratory|Tuberculosis intradermal skin test|28
86803|Laboratory|Hepatitis C antibody|48
87040|Laboratory|Blood culture for bacteria|62
87086|Laboratory|Urine bacterial culture quantitative|36
87426|Laboratory|Infectious agent antigen SARS-CoV-2 immunoassay|72
87635|Laboratory|Infectious agent detection SARS-CoV-2 amplified probe|150
87804|Laboratory|Influenza antigen immunoassay|45
87880|Laboratory|Streptococcus group A antigen immunoassay|38
70450|Radiology|CT head or brain without contrast|780
70551|Radiology|MRI brain without contrast|1450
70553|Radiology|MRI brain without then with contrast|2400
71045|Radiology|Chest x-ray single view|95
71046|Radiology|Chest x-ray two views|130
71250|Radiology|CT thorax without contrast|850
71260|Radiology|CT thorax with contrast|1050
72040|Radiology|X-ray cervical spine two or three views|150
72100|Radiology|X-ray lumbosacral spine two or three views|160
72141|Radiology|MRI cervical spine without contrast|1350
72148|Radiology|MRI lumbar spine without contrast|1350
73030|Radiology|X-ray shoulder minimum two views|120
73110|Radiology|X-ray wrist minimum three views|115
73130|Radiology|X-ray hand minimum three views|110
73562|Radiology|X-ray knee three views|135
73610|Radiology|X-ray ankle minimum three views|120
73721|Radiology|MRI lower extremity joint without contrast|1300
74018|Radiology|X-ray abdomen single view|105
74176|Radiology|CT abdomen and pelvis without contrast|1250
74177|Radiology|CT abdomen and pelvis with contrast|1500
76536|Radiology|Ultrasound soft tissues of head and neck|320
76700|Radiology|Ultrasound abdomen complete|420
76705|Radiology|Ultrasound abdomen limited|290
76805|Radiology|Obstetric ultrasound after first trimester|450
76856|Radiology|Pelvic ultrasound complete|380
77067|Radiology|Screening mammography bilateral|260
77080|Radiology|Bone density study axial skeleton|190
78452|Radiology|Myocardial perfusion imaging multiple studies|1900
90471|Medicine|Immunization administration single vaccine|30
90472|Medicine|Immunization administration each additional vaccine|20
90686|Medicine|Influenza vaccine quadrivalent preservative free|38
90715|Medicine|Tetanus diphtheria and pertussis vaccine|62
90732|Medicine|Pneumococcal polysaccharide vaccine|140
90791|Medicine|Psychiatric diagnostic evaluation|260
90834|Medicine|Psychotherapy 45 minutes|170
90837|Medicine|Psychotherapy 60 minutes|220
92004|Medicine|Comprehensive eye examination new patient|210
92014|Medicine|Comprehensive eye examination established patient|160
93000|Medicine|Electrocardiogram with interpretation and report|65
93005|Medicine|Electrocardiogram tracing only|40
93306|Medicine|Transthoracic echocardiography complete|1100
93458|Medicine|Left heart catheterization with coronary angiography|5200
93880|Medicine|Duplex scan extracranial arteries bilateral|620
92928|Medicine|Percutaneous coronary stent placement single vessel|14500
94010|Medicine|Spirometry|85
94060|Medicine|Spirometry before and after bronchodilator|140
94640|Medicine|Inhalation treatment for airway obstruction|45
94760|Medicine|Pulse oximetry single determination|12
95004|Medicine|Percutaneous allergy skin tests|9
95810|Medicine|Attended polysomnography|1800
96127|Medicine|Brief emotional or behavioral assessment|18
96365|Medicine|Intravenous infusion first hour|240
96372|Medicine|Therapeutic injection subcutaneous or intramuscular|45
96374|Medicine|Intravenous push single drug|150
97110|Medicine|Therapeutic exercises each 15 minutes|62
97140|Medicine|Manual therapy techniques each 15 minutes|58
97161|Medicine|Physical therapy evaluation low complexity|190
97530|Medicine|Therapeutic activities each 15 minutes|68
99406|Medicine|Smoking cessation counseling 3 to 10 minutes|32
10060|Surgery|Incision and drainage of abscess simple|310
10120|Surgery|Incision and removal of foreign body subcutaneous simple|340
11042|Surgery|Debridement subcutaneous tissue first 20 sq cm|420
11102|Surgery|Tangential biopsy of skin single lesion|180
11200|Surgery|Removal of skin tags up to 15 lesions|150
11721|Surgery|Debridement of nails six or more|85
12001|Surgery|Simple repair of superficial wound 2.5 cm or less|260
12002|Surgery|Simple repair of superficial wound 2.6 to 7.5 cm|320
12011|Surgery|Simple repair of superficial wound of face 2.5 cm or less|300
17000|Surgery|Destruction of premalignant lesion first lesion|140
17110|Surgery|Destruction of benign lesions up to 14|190
20550|Surgery|Injection of tendon sheath or ligament|160
20610|Surgery|Arthrocentesis or injection of major joint|230
29125|Surgery|Application of short arm splint static|140
29881|Surgery|Knee arthroscopy with meniscectomy|4800
27130|Surgery|Total hip arthroplasty|32000
27447|Surgery|Total knee arthroplasty|31000
31231|Surgery|Nasal endoscopy diagnostic|420
33533|Surgery|Coronary artery bypass using arterial graft single|52000
43235|Surgery|Upper gastrointestinal endoscopy diagnostic|1500
43239|Surgery|Upper gastrointestinal endoscopy with biopsy|1700
45378|Surgery|Colonoscopy diagnostic|1800
45380|Surgery|Colonoscopy with biopsy|2100
45385|Surgery|Colonoscopy with removal of lesion by snare|2400
47562|Surgery|Laparoscopic cholecystectomy|9800
49505|Surgery|Repair of initial inguinal hernia age 5 or over|6200
52000|Surgery|Cystourethroscopy|650
55700|Surgery|Biopsy of prostate needle or punch|1200
58300|Surgery|Insertion of intrauterine device|420
59400|Surgery|Routine obstetric care vaginal delivery|6800
59510|Surgery|Routine obstetric care cesarean delivery|8900
62323|Surgery|Injection of interlaminar epidural lumbar with imaging|950
64483|Surgery|Injection transforaminal epidural lumbar single level|1100
66984|Surgery|Extracapsular cataract removal with lens insertion|4200
69210|Surgery|Removal of impacted cerumen with instruments|95
"""

_EM_TEXT = """
99202|Office or outpatient visit new patient straightforward|140
99203|Office or outpatient visit new patient low complexity|210
99204|Office or outpatient visit new patient moderate complexity|320
99205|Office or outpatient visit new patient high complexity|420
99211|Office or outpatient visit established patient minimal|45
99212|Office or outpatient visit established patient straightforward|95
99213|Office or outpatient visit established patient low complexity|150
99214|Office or outpatient visit established patient moderate complexity|220
99215|Office or outpatient visit established patient high complexity|310
99221|Initial hospital inpatient care low complexity|280
99222|Initial hospital inpatient care moderate complexity|380
99223|Initial hospital inpatient care high complexity|520
99231|Subsequent hospital inpatient care low complexity|110
99232|Subsequent hospital inpatient care moderate complexity|170
99233|Subsequent hospital inpatient care high complexity|240
99238|Hospital discharge day management 30 minutes or less|160
99239|Hospital discharge day management more than 30 minutes|230
99242|Office consultation straightforward|170
99243|Office consultation low complexity|240
99244|Office consultation moderate complexity|340
99245|Office consultation high complexity|450
99281|Emergency department visit minimal|90
99282|Emergency department visit straightforward|170
99283|Emergency department visit low complexity|320
99284|Emergency department visit moderate complexity|560
99285|Emergency department visit high complexity|880
99291|Critical care first 30 to 74 minutes|1150
99292|Critical care each additional 30 minutes|520
99381|Preventive visit new patient infant|210
99382|Preventive visit new patient age 1 to 4|220
99383|Preventive visit new patient age 5 to 11|220
99384|Preventive visit new patient age 12 to 17|240
99385|Preventive visit new patient age 18 to 39|240
99386|Preventive visit new patient age 40 to 64|270
99387|Preventive visit new patient age 65 and over|290
99391|Preventive visit established patient infant|180
99392|Preventive visit established patient age 1 to 4|190
99393|Preventive visit established patient age 5 to 11|190
99394|Preventive visit established patient age 12 to 17|200
99395|Preventive visit established patient age 18 to 39|210
99396|Preventive visit established patient age 40 to 64|230
99397|Preventive visit established patient age 65 and over|250
99421|Online digital evaluation 5 to 10 minutes|40
99422|Online digital evaluation 11 to 20 minutes|75
99423|Online digital evaluation 21 or more minutes|120
99441|Telephone evaluation 5 to 10 minutes|45
99442|Telephone evaluation 11 to 20 minutes|85
99443|Telephone evaluation 21 to 30 minutes|125
"""

_ANESTHESIA_REGIONS = (
    "lens surgery",
    "procedures on salivary glands",
    "procedures on eye",
    "procedures on nose and accessory sinuses",
    "intraoral procedures",
    "procedures on external ear",
    "procedures on facial bones",
    "intracranial procedures",
    "procedures on esophagus thyroid larynx",
    "procedures on cervical spine",
    "procedures on anterior integumentary system of chest",
    "procedures on shoulder and axilla",
    "procedures on upper abdominal wall",
    "lower intestinal endoscopic procedures",
    "upper gastrointestinal endoscopic procedures",
    "procedures on lower abdominal wall",
    "hernia repairs in lower abdomen",
    "intraperitoneal procedures in lower abdomen",
    "procedures on perineal integumentary system",
    "vaginal delivery",
    "cesarean delivery",
    "procedures on bony pelvis",
    "open procedures on hip joint",
    "procedures on knee joint",
    "arthroscopic procedures of knee joint",
    "procedures on lower leg ankle and foot",
    "procedures on forearm wrist and hand",
    "diagnostic arthroscopic procedures of shoulder",
    "cardiac catheterization",
    "radiological procedures",
)
_CAT3_TOPICS = (
    "tracking code for remote monitoring",
    "emerging technology imaging service",
    "transcatheter procedure tracking code",
    "artificial intelligence assisted analysis",
    "home based remote physiologic measurement",
    "novel laser therapy session",
)
_CAT2_TOPICS = (
    "Blood pressure measured and documented",
    "Tobacco use assessed",
    "Body mass index documented",
    "Hemoglobin A1c level documented",
    "Depression screening performed",
)


@dataclass(frozen=True)
class CptCatalogue:
    codes: tuple[str, ...]
    categories: tuple[str, ...]
    descriptions: tuple[str, ...]
    statuses: tuple[str, ...]
    charges: npt.NDArray[np.float64]
    billable: npt.NDArray[np.bool_]  # codes a hospital bills (Category II are tracking only)

    def index_of(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.codes)}


@lru_cache(maxsize=1)
def cpt_catalogue() -> CptCatalogue:
    """The CPT list written to ``landing/cpt/cpt_codes.csv`` and billed in transactions."""
    rows: list[tuple[str, str, str, float, bool]] = []
    for line in _EM_TEXT.strip().splitlines():
        code, desc, price = line.split("|")
        rows.append((code, "Evaluation and Management", desc, float(price), True))
    for line in _CPT_TEXT.strip().splitlines():
        code, cat, desc, price = line.split("|")
        rows.append((code, cat, desc, float(price), True))
    for i, region in enumerate(_ANESTHESIA_REGIONS):
        code = f"{100 + i * 28:05d}"
        rows.append((code, "Anesthesia", f"Anesthesia for {region}", 450.0 + 60 * (i % 11), True))
    for i in range(40):
        code = f"{42 + i * 7:04d}T"
        topic = _CAT3_TOPICS[i % len(_CAT3_TOPICS)]
        rows.append((code, "Category III", f"Category III {topic} {i + 1}", 180.0 + 35 * i, True))
    for i in range(25):
        code = f"{1000 + i * 37:04d}F"
        topic = _CAT2_TOPICS[i % len(_CAT2_TOPICS)]
        rows.append((code, "Category II", f"{topic} (measure {i + 1})", 0.0, False))
    statuses = []
    for i in range(len(rows)):
        statuses.append(("No Change", "No change", "No Change", "Added", "Revised")[i * 7 % 5])
    return CptCatalogue(
        codes=tuple(r[0] for r in rows),
        categories=tuple(r[1] for r in rows),
        descriptions=tuple(r[2] for r in rows),
        statuses=tuple(statuses),
        charges=np.array([r[3] for r in rows], dtype=np.float64),
        billable=np.array([r[4] for r in rows], dtype=np.bool_),
    )


@lru_cache(maxsize=1)
def icd_leaf_codes() -> tuple[str, ...]:
    """Billable (leaf) ICD-10-CM codes, with the dot, in the library's order."""
    return tuple(c for c in icd.get_all_codes() if icd.is_leaf(c))


@lru_cache(maxsize=1)
def icd_code_set() -> frozenset[str]:
    codes = icd_leaf_codes()
    return frozenset(codes) | frozenset(c.replace(".", "") for c in codes)


def npi_check_digit(first9: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Luhn check digit of NPIs: the 9 leading digits prefixed by 80840 (vectorised)."""
    total = np.full(first9.shape, 24, dtype=np.int64)  # Luhn sum of the "80840" prefix
    digits = first9.copy()
    for pos in range(9):  # from the right-most of the 9 digits
        d = digits % 10
        digits //= 10
        if pos % 2 == 0:  # doubled positions (right-most digit of the payload is doubled)
            d = d * 2
            d = d - 9 * (d > 9)
        total += d
    return (10 - total % 10) % 10


def npi_is_valid(npi: str) -> bool:
    """True when a 10-digit NPI string carries the right check digit."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    check = npi_check_digit(np.array([int(npi[:9])], dtype=np.int64))[0]
    return int(npi[9]) == int(check)
