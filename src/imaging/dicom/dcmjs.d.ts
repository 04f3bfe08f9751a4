// dcmjs 0.52 ships no type declarations; these cover the part RareForge uses: the "denaturalized"
// data set (tag → { vr, Value }) and DicomDict's Part 10 writer.
declare module "dcmjs" {
  /** One data element: Value holds strings, numbers, person names, ArrayBuffers (OB/OW) or sequence items. */
  export interface DcmjsElement {
    vr: string;
    Value?: unknown[];
    InlineBinary?: string;
  }
  export type DcmjsDataSet = Record<string, DcmjsElement>;

  export class DicomDict {
    constructor(meta: DcmjsDataSet);
    meta: DcmjsDataSet;
    dict: DcmjsDataSet;
    write(options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): ArrayBuffer;
  }

  export const DicomMessage: {
    readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean; untilTag?: string; includeUntilTagValue?: boolean; noCopy?: boolean; forceStoreRaw?: boolean }): DicomDict;
  };

  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: typeof DicomMessage;
      DicomMetaDictionary: { dictionary: Record<string, { tag: string; vr: string; name: string } | undefined> };
    };
  };
  export default dcmjs;
}

declare module "dcmjs" {
  export interface DcmjsLogger {
    getLevel(): number;
    setLevel(level: number | "trace" | "debug" | "info" | "warn" | "error" | "silent"): void;
    getLogger(name: string): DcmjsLogger;
  }
  /** loglevel's root logger; dcmjs reports VR guesses on its child "validation.dcmjs". */
  export const log: DcmjsLogger;
}
