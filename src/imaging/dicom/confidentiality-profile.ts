/**
 * Actions of the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile (Table E.1-1, "Basic
 * Profile" column) for the attributes that carry identity, in the table's own letters:
 *   X remove · Z replace with a zero-length value · D replace with a dummy value · U replace the UID.
 * Compound actions (X/Z, Z/D, X/Z/D, X/D, X/Z/U*) are resolved to the strictest one that keeps the
 * file valid: Z for type 2 attributes, D where a type 1 value is needed, X otherwise.
 * On top of the table, reader-independent safety rules apply in deidentify.ts: every private attribute
 * is removed, every UID outside the DICOM root 1.2.840.10008 is replaced, every person name emptied,
 * and dates and times are shifted or emptied, so an attribute missing here cannot leak an identifier.
 */
export type ProfileAction = "X" | "Z" | "D";

export const BASIC_PROFILE: ReadonlyMap<string, ProfileAction> = new Map<string, ProfileAction>([
  // Patient
  ["00100010", "Z"], // Patient's Name
  ["00100020", "Z"], // Patient ID
  ["00100021", "X"], // Issuer of Patient ID
  ["00100022", "X"], // Type of Patient ID
  ["00100024", "X"], // Issuer of Patient ID Qualifiers Sequence
  ["00100030", "Z"], // Patient's Birth Date
  ["00100032", "X"], // Patient's Birth Time
  ["00100033", "X"], // Patient's Birth Date in Alternative Calendar
  ["00100034", "X"], // Patient's Death Date in Alternative Calendar
  ["00100035", "X"], // Patient's Alternative Calendar
  ["00100040", "Z"], // Patient's Sex
  ["00100050", "X"], // Patient's Insurance Plan Code Sequence
  ["00100101", "X"], // Patient's Primary Language Code Sequence
  ["00100102", "X"], // Patient's Primary Language Modifier Code Sequence
  ["00100200", "X"], // Quality Control Subject
  ["00101000", "X"], // Other Patient IDs
  ["00101001", "X"], // Other Patient Names
  ["00101002", "X"], // Other Patient IDs Sequence
  ["00101005", "X"], // Patient's Birth Name
  ["00101010", "X"], // Patient's Age
  ["00101020", "X"], // Patient's Size
  ["00101030", "X"], // Patient's Weight
  ["00101040", "X"], // Patient's Address
  ["00101050", "X"], // Insurance Plan Identification
  ["00101060", "X"], // Patient's Mother's Birth Name
  ["00101080", "X"], // Military Rank
  ["00101081", "X"], // Branch of Service
  ["00101090", "X"], // Medical Record Locator
  ["00101100", "X"], // Referenced Patient Photo Sequence
  ["00102000", "X"], // Medical Alerts
  ["00102110", "X"], // Allergies
  ["00102150", "X"], // Country of Residence
  ["00102152", "X"], // Region of Residence
  ["00102154", "X"], // Patient's Telephone Numbers
  ["00102155", "X"], // Patient's Telecom Information
  ["00102160", "X"], // Ethnic Group
  ["00102180", "X"], // Occupation
  ["001021A0", "X"], // Smoking Status
  ["001021B0", "X"], // Additional Patient History
  ["001021C0", "X"], // Pregnancy Status
  ["001021D0", "X"], // Last Menstrual Date
  ["001021F0", "X"], // Patient's Religious Preference
  ["00102203", "X"], // Patient's Sex Neutered
  ["00102297", "X"], // Responsible Person
  ["00102299", "X"], // Responsible Organization
  ["00104000", "X"], // Patient Comments
  ["00080092", "X"], // Referring Physician's Address
  ["00080094", "X"], // Referring Physician's Telephone Numbers
  ["00080096", "X"], // Referring Physician Identification Sequence
  ["00380010", "X"], // Admission ID
  ["00380014", "X"], // Issuer of Admission ID Sequence
  ["00380060", "X"], // Service Episode ID
  ["00380062", "X"], // Service Episode Description
  ["00380300", "X"], // Current Patient Location
  ["00380400", "X"], // Patient's Institution Residence
  ["00380500", "X"], // Patient State
  ["00384000", "X"], // Visit Comments
  // Study, visit and request
  ["00080020", "Z"], // Study Date (dates: shifted instead when the option is chosen)
  ["00080030", "Z"], // Study Time
  ["00080050", "Z"], // Accession Number
  ["00080051", "X"], // Issuer of Accession Number Sequence
  ["00080090", "Z"], // Referring Physician's Name
  ["00081030", "X"], // Study Description
  ["00081032", "X"], // Procedure Code Sequence
  ["00081048", "X"], // Physician(s) of Record
  ["00081049", "X"], // Physician(s) of Record Identification Sequence
  ["00081060", "X"], // Name of Physician(s) Reading Study
  ["00081062", "X"], // Physician(s) Reading Study Identification Sequence
  ["00081080", "X"], // Admitting Diagnoses Description
  ["00081084", "X"], // Admitting Diagnoses Code Sequence
  ["00081110", "X"], // Referenced Study Sequence
  ["00081111", "X"], // Referenced Performed Procedure Step Sequence
  ["00081120", "X"], // Referenced Patient Sequence
  ["00200010", "Z"], // Study ID
  ["00321032", "X"], // Requesting Physician
  ["00321033", "X"], // Requesting Service
  ["00321060", "X"], // Requested Procedure Description
  ["00321070", "X"], // Requested Contrast Agent
  ["00324000", "X"], // Study Comments
  ["00400275", "X"], // Request Attributes Sequence
  ["00401001", "X"], // Requested Procedure ID
  ["00401004", "X"], // Patient Transport Arrangements
  ["00401005", "X"], // Requested Procedure Location
  ["00401010", "X"], // Names of Intended Recipients of Results
  ["00401011", "X"], // Intended Recipients of Results Identification Sequence
  ["00401102", "X"], // Person's Address
  ["00401103", "X"], // Person's Telephone Numbers
  ["00401104", "X"], // Person's Telecom Information
  ["00401400", "X"], // Requested Procedure Comments
  ["00402001", "X"], // Reason for the Imaging Service Request
  ["00402008", "X"], // Order Entered By
  ["00402009", "X"], // Order Enterer's Location
  ["00402010", "X"], // Order Callback Phone Number
  ["00402011", "X"], // Order Callback Telecom Information
  ["00402016", "Z"], // Placer Order Number / Imaging Service Request
  ["00402017", "Z"], // Filler Order Number / Imaging Service Request
  ["00402400", "X"], // Imaging Service Request Comments
  ["00403001", "X"], // Confidentiality Constraint on Patient Data Description
  ["00400006", "X"], // Scheduled Performing Physician's Name
  ["00400007", "X"], // Scheduled Procedure Step Description
  ["0040000B", "X"], // Scheduled Performing Physician Identification Sequence
  ["00400010", "X"], // Scheduled Station Name
  ["00400011", "X"], // Scheduled Procedure Step Location
  ["00400012", "X"], // Pre-Medication
  ["00400241", "X"], // Performed Station AE Title
  ["00400242", "X"], // Performed Station Name
  ["00400243", "X"], // Performed Location
  ["00400253", "X"], // Performed Procedure Step ID
  ["00400254", "X"], // Performed Procedure Step Description
  ["00400275", "X"], // Request Attributes Sequence
  ["00400280", "X"], // Comments on the Performed Procedure Step
  ["00400555", "X"], // Acquisition Context Sequence
  ["0040A027", "X"], // Verifying Organization
  ["0040A073", "X"], // Verifying Observer Sequence
  ["0040A075", "D"], // Verifying Observer Name
  ["0040A078", "X"], // Author Observer Sequence
  ["0040A07A", "X"], // Participant Sequence
  ["0040A07C", "X"], // Custodial Organization Sequence
  ["0040A088", "Z"], // Verifying Observer Identification Code Sequence
  ["0040A123", "D"], // Person Name
  ["0040A730", "X"], // Content Sequence (SR content can hold any identifier)
  // Series, equipment and institution
  ["00080080", "X"], // Institution Name
  ["00080081", "X"], // Institution Address
  ["00080082", "X"], // Institution Code Sequence
  ["00081010", "X"], // Station Name
  ["00081040", "X"], // Institutional Department Name
  ["00081041", "X"], // Institutional Department Type Code Sequence
  ["00081050", "X"], // Performing Physician's Name
  ["00081052", "X"], // Performing Physician Identification Sequence
  ["00081070", "X"], // Operators' Name
  ["00081072", "X"], // Operator Identification Sequence
  ["0008103E", "X"], // Series Description
  ["00081084", "X"], // Admitting Diagnoses Code Sequence
  ["00082111", "X"], // Derivation Description
  ["00081000", "X"], // Network ID
  ["00180010", "Z"], // Contrast/Bolus Agent
  ["00181000", "X"], // Device Serial Number
  ["00181004", "X"], // Plate ID
  ["00181005", "X"], // Generator ID
  ["00181007", "X"], // Cassette ID
  ["00181008", "X"], // Gantry ID
  ["00181030", "X"], // Protocol Name
  ["00181400", "X"], // Acquisition Device Processing Description
  ["0018700A", "X"], // Detector ID
  ["00189424", "X"], // Acquisition Protocol Description
  ["00189516", "X"], // Start Acquisition DateTime
  ["00189517", "X"], // End Acquisition DateTime
  ["0018A003", "X"], // Contribution Description
  ["00204000", "X"], // Image Comments
  ["00209158", "X"], // Frame Comments
  ["00400260", "X"], // Performed Protocol Code Sequence
  ["00880140", "X"], // Storage Media File-set UID
  ["00880200", "X"], // Icon Image Sequence (a thumbnail may show burned-in text)
  ["00880904", "X"], // Topic Title
  ["00880906", "X"], // Topic Subject
  ["00880910", "X"], // Topic Author
  ["00880912", "X"], // Topic Keywords
  ["00320012", "X"], // Study ID Issuer
  ["00321020", "X"], // Scheduled Study Location
  ["00321021", "X"], // Scheduled Study Location AE Title
  ["00324000", "X"], // Study Comments
  ["40000010", "X"], // Arbitrary
  ["40004000", "X"], // Text Comments
  ["40084042", "X"], // Results ID Issuer
  ["00080201", "X"], // Timezone Offset From UTC
  ["00080014", "X"], // Instance Creator UID
  ["00081195", "X"], // Transaction UID
  ["00020016", "X"], // Source Application Entity Title
  ["00020017", "X"], // Sending Application Entity Title
  ["00020018", "X"], // Receiving Application Entity Title
  ["00020100", "X"], // Private Information Creator UID
  ["00020102", "X"], // Private Information
]);

/** Attribute groups removed whole: curves (50xx) and overlays (60xx) may hold burned-in identity. */
export function isCurveOrOverlay(tag: string): boolean {
  const group = tag.slice(0, 4).toUpperCase();
  return /^50[0-9A-F]{2}$/.test(group) || (/^60[0-9A-F]{2}$/.test(group) && ["3000", "4000"].includes(tag.slice(4, 8).toUpperCase()));
}
