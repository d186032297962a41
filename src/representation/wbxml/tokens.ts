/** WBXML global tokens (valid on every code page) and header constants — spec §2.1, §2.2 (WBXML 1.3 §7.1). */
export const Token = {
  SWITCH_PAGE: 0x00,
  END: 0x01,
  ENTITY: 0x02,
  STR_I: 0x03,
  LITERAL: 0x04,
  EXT_I_0: 0x40,
  EXT_I_1: 0x41,
  EXT_I_2: 0x42,
  PI: 0x43,
  LITERAL_C: 0x44,
  EXT_T_0: 0x80,
  EXT_T_1: 0x81,
  EXT_T_2: 0x82,
  STR_T: 0x83,
  LITERAL_A: 0x84,
  EXT_0: 0xc0,
  EXT_1: 0xc1,
  EXT_2: 0xc2,
  OPAQUE: 0xc3,
  LITERAL_AC: 0xc4,
} as const;

/** Tag byte flags: the element has content / has attributes; the low 6 bits are the tag token. */
export const TAG_CONTENT = 0x40;
export const TAG_ATTRIBUTES = 0x80;
export const TAG_MASK = 0x3f;

/** The version byte: high nibble = major − 1, low nibble = minor. */
export const WbxmlVersion = {
  V1_0: 0x00,
  V1_1: 0x01,
  V1_2: 0x02,
  V1_3: 0x03,
} as const;
export type WbxmlVersion = (typeof WbxmlVersion)[keyof typeof WbxmlVersion];

/** IANA MIBenum charsets the codec reads: UTF-8, and its subset US-ASCII; 0 means "unknown". */
export const Charset = {
  Unknown: 0,
  UsAscii: 3,
  Utf8: 106,
} as const;
