/**
 * `?list=TNDS[+Prop…|-Prop…]` for the tree engine: a ListSerializer turning the engine's subtree
 * snapshot (already limited to what the server may read) into one Results item.
 */
import { StatusCode } from '../../representation/index.ts';
import type { DdfSchema } from '../ddf/schema.ts';
import type { ListSerializer, TreeItem } from '../types.ts';
import { TNDS_WBXML_TYPE, TNDS_XML_TYPE, tndsToWbxml, tndsToXml } from './codec.ts';
import { parseTndsSelection, subtreeToTnds } from './subtree.ts';

export interface TndsListOptions {
  /** `xml` (default): Data is the XML text; `wbxml`: Data is a WBXML document (for WBXML sessions). */
  encoding?: 'xml' | 'wbxml';
  /**
   * The device's DDFs: Values of nodes whose AccessType lacks Get (DMAcc AAuthSecret, AAuthData)
   * are left out, whatever the snapshot holds.
   */
  schema?: DdfSchema;
}

/** A `?list=TNDS` serializer to register with the tree engine. */
export function tndsListSerializer(options: TndsListOptions = {}): ListSerializer {
  const schema = options.schema;
  return (snapshot, uri, args): TreeItem | StatusCode => {
    const props = parseTndsSelection(args);
    if (!props) return StatusCode.OptionalFeatureNotSupported;
    const readable = schema
      ? (nodeUri: string) => {
          const m = schema.match(nodeUri);
          return m.kind !== 'described' || m.node.df.accessType.includes('Get');
        }
      : undefined;
    const tree = subtreeToTnds(snapshot, { props, uri, ...(readable ? { readable } : {}) });
    if (options.encoding === 'wbxml') {
      return { uri, format: 'bin', type: TNDS_WBXML_TYPE, data: tndsToWbxml(tree) };
    }
    return { uri, format: 'xml', type: TNDS_XML_TYPE, data: tndsToXml(tree) };
  };
}
