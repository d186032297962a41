/**
 * Building a Generic Alert (1226, protocol.md §3.5): how a device reports an asynchronous Exec
 * result (with the Exec's Correlator) or any event the server should know about.
 */
import type { Alert, Item } from '../representation/index.ts';
import { AlertCode } from '../representation/index.ts';

export interface GenericAlertInput {
  /** The Exec's Correlator, for an asynchronous result. */
  readonly correlator?: string;
  /** MO address the alert is about (e.g. `./FwUpdate/Pkg1/DownloadAndUpdate`). */
  readonly source?: string;
  /** Alert type, e.g. `org.openmobilealliance.dm.firmwareupdate.downloadandupdate`. */
  readonly type: string;
  /** Format of `data` (default `int`, as result codes are). */
  readonly format?: string;
  /** `critical`, `warning`, … (default `informational`, i.e. omitted). */
  readonly mark?: string;
  readonly data: string;
}

export function genericAlert(input: GenericAlertInput): Alert {
  const item: Item = {
    ...(input.source === undefined ? {} : { Source: { LocURI: input.source } }),
    Meta: {
      Type: input.type,
      Format: input.format ?? 'int',
      ...(input.mark === undefined ? {} : { Mark: input.mark }),
    },
    Data: { kind: 'text', text: input.data },
  };
  return {
    type: 'Alert',
    CmdID: '0',
    Data: AlertCode.GenericAlert,
    ...(input.correlator === undefined ? {} : { Correlator: input.correlator }),
    Item: [item],
  };
}
