use super::writer::Writer;
use super::*;

const PROTOCOLS: [Protocol; 2] = [Protocol::Binary, Protocol::Compact];

/// A struct with every value kind, field ids that need the compact long form (a jump
/// over 15 and a decrease), bool fields both ways, and nested containers.
fn sample(protocol: Protocol) -> Vec<u8> {
    let mut writer = Writer::new(protocol);
    writer.struct_begin();
    writer.field(FieldType::Bool, 1).bool(true);
    writer.field(FieldType::Bool, 2).bool(false);
    writer.field(FieldType::Byte, 3).byte(-7);
    writer.field(FieldType::I16, 4).i16(-300);
    writer.field(FieldType::I32, 5).i32(i32::MIN);
    writer.field(FieldType::I64, 40).i64(i64::MIN);
    writer.field(FieldType::Double, 6).double(-1.5);
    writer.field(FieldType::Binary, 7).string("héllo");
    writer
        .field(FieldType::List, 8)
        .list_begin(FieldType::I64, 20);
    for value in 0..20 {
        writer.i64(value - 10);
    }
    writer
        .field(FieldType::List, 9)
        .list_begin(FieldType::Bool, 2);
    writer.bool(true).bool(false);
    writer
        .field(FieldType::Map, 10)
        .map_begin(FieldType::Binary, FieldType::Struct, 1);
    writer.string("key").struct_begin();
    writer.field(FieldType::I32, 1).i32(5).struct_end();
    writer.field(FieldType::Struct, 11).struct_begin();
    writer.field(FieldType::I64, 1).i64(i64::MAX).struct_end();
    writer.field(FieldType::I32, 12).i32(77);
    writer.struct_end();
    writer.into_bytes()
}

#[test]
fn every_value_kind_reads_back_in_both_protocols() {
    for protocol in PROTOCOLS {
        let bytes = sample(protocol);
        let mut reader = Reader::new(&bytes, protocol);
        reader.read_struct_begin().expect("begin");
        let mut seen = Vec::new();
        while let Some((field_type, id)) = reader.read_field_begin().expect("field") {
            seen.push(id);
            match (id, field_type) {
                (1, FieldType::Bool) => assert!(reader.read_bool().expect("bool")),
                (2, FieldType::Bool) => assert!(!reader.read_bool().expect("bool")),
                (3, FieldType::Byte) => assert_eq!(reader.read_byte().expect("byte"), -7),
                (4, FieldType::I16) => assert_eq!(reader.read_i16().expect("i16"), -300),
                (5, FieldType::I32) => assert_eq!(reader.read_i32().expect("i32"), i32::MIN),
                (40, FieldType::I64) => assert_eq!(reader.read_i64().expect("i64"), i64::MIN),
                (6, FieldType::Double) => assert_eq!(reader.read_double().expect("f64"), -1.5),
                (7, FieldType::Binary) => assert_eq!(reader.read_string().expect("s"), "héllo"),
                (8, FieldType::List) => {
                    let (element_type, length) = reader.read_list_begin().expect("list");
                    assert_eq!((element_type, length), (FieldType::I64, 20));
                    let values: Vec<i64> = (0..length)
                        .map(|_| reader.read_i64().expect("element"))
                        .collect();
                    assert_eq!(values, (-10..10).collect::<Vec<i64>>());
                }
                (9, FieldType::List) => {
                    assert_eq!(
                        reader.read_list_begin().expect("list"),
                        (FieldType::Bool, 2)
                    );
                    assert!(reader.read_bool().expect("true"));
                    assert!(!reader.read_bool().expect("false"));
                }
                // Skipped: a map of structs and a nested struct.
                (10, FieldType::Map) | (11, FieldType::Struct) => {
                    reader.skip(field_type).expect("skip")
                }
                (12, FieldType::I32) => assert_eq!(reader.read_i32().expect("i32"), 77),
                other => panic!("{protocol:?}: unexpected field {other:?}"),
            }
        }
        reader.read_struct_end().expect("end");
        assert_eq!(seen, [1, 2, 3, 4, 5, 40, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(reader.remaining(), 0, "{protocol:?}");
    }
}

#[test]
fn skipping_a_whole_struct_consumes_exactly_it() {
    for protocol in PROTOCOLS {
        let mut bytes = sample(protocol);
        bytes.push(0xAB);
        let mut reader = Reader::new(&bytes, protocol);
        reader.skip(FieldType::Struct).expect("skip");
        assert_eq!(reader.remaining(), 1, "{protocol:?}");
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for protocol in PROTOCOLS {
        let bytes = sample(protocol);
        for end in 0..bytes.len() {
            let mut reader = Reader::new(&bytes[..end], protocol);
            assert!(
                reader.skip(FieldType::Struct).is_err(),
                "{protocol:?} {end}"
            );
        }
    }
}

#[test]
fn message_headers_in_all_three_forms() {
    for protocol in PROTOCOLS {
        let mut writer = Writer::new(protocol);
        writer.message_begin("emitBatch", MessageType::Oneway, 300);
        let bytes = writer.into_bytes();
        let header = Reader::new(&bytes, protocol)
            .read_message_begin()
            .expect("header");
        assert_eq!(
            header,
            MessageHeader {
                name: "emitBatch",
                message_type: MessageType::Oneway,
                sequence_id: 300
            }
        );
    }
    let mut writer = Writer::new(Protocol::Binary);
    writer.message_begin_non_strict("emitBatch", -2);
    let bytes = writer.into_bytes();
    let header = Reader::binary(&bytes)
        .read_message_begin()
        .expect("old form");
    assert_eq!((header.name, header.sequence_id), ("emitBatch", -2));
}

#[test]
fn bad_message_headers_are_named() {
    let error = Reader::compact(&[0x80, 0x01, 0, 0])
        .read_message_begin()
        .expect_err("binary bytes to the compact reader");
    assert!(error.to_string().contains("protocol id 0x80"), "{error}");
    let error = Reader::compact(&[0x82, 0x82, 0, 0])
        .read_message_begin()
        .expect_err("version 2");
    assert!(error.to_string().contains("version 2"), "{error}");
    let error = Reader::binary(&[0x80, 0x02, 0, 4, 0, 0, 0, 0])
        .read_message_begin()
        .expect_err("version 2");
    assert!(error.to_string().contains("version"), "{error}");
    assert!(
        Reader::binary(&[0x7f, 0xff, 0xff, 0xff, b'x'])
            .read_message_begin()
            .is_err()
    );
}

#[test]
fn huge_declared_lengths_fail_before_allocating() {
    // A binary list claiming i32::MAX strings, a negative string length and a compact
    // list claiming 2^31 elements: each is rejected at the header.
    let mut reader = Reader::binary(&[11, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0]);
    assert!(matches!(
        reader.read_list_begin(),
        Err(ThriftError::BadLength {
            length: 2_147_483_647,
            ..
        })
    ));
    let mut reader = Reader::binary(&[0xff, 0xff, 0xff, 0xfe]);
    assert!(matches!(
        reader.read_binary(),
        Err(ThriftError::BadLength { length: -2, .. })
    ));
    let mut reader = Reader::compact(&[0xf8, 0x80, 0x80, 0x80, 0x80, 0x08, 1, 2]);
    assert!(matches!(
        reader.read_list_begin(),
        Err(ThriftError::BadLength { .. })
    ));
    // 4 one-byte i64 varints need 4 bytes; 3 are there.
    assert!(Reader::compact(&[0x46, 2, 2, 2]).read_list_begin().is_err());
    assert_eq!(
        Reader::compact(&[0x46, 2, 2, 2, 2]).read_list_begin(),
        Ok((FieldType::I64, 4))
    );
}

#[test]
fn deep_nesting_is_refused() {
    // Binary: struct { field 1: struct { field 1: struct { ... } } } far past MAX_DEPTH.
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        bytes.extend_from_slice(&[12, 0, 1]);
    }
    assert!(matches!(
        Reader::binary(&bytes).skip(FieldType::Struct),
        Err(ThriftError::TooDeep(_))
    ));
    // Compact: lists of lists.
    let bytes = vec![0x19; 1000];
    assert!(matches!(
        Reader::compact(&bytes).skip(FieldType::List),
        Err(ThriftError::TooDeep(_))
    ));
}

#[test]
fn over_long_varints_and_unknown_types_are_errors() {
    assert!(matches!(
        Reader::compact(&[0xff; 11]).read_i64(),
        Err(ThriftError::VarintTooLong(0))
    ));
    assert!(matches!(
        Reader::compact(&[0x0e]).read_field_begin(),
        Err(ThriftError::UnknownType { type_id: 14, .. })
    ));
    assert!(matches!(
        Reader::binary(&[7, 0, 1]).read_field_begin(),
        Err(ThriftError::UnknownType { type_id: 7, .. })
    ));
    assert_eq!(
        Reader::binary(&[]).read_struct_end(),
        Err(ThriftError::UnbalancedStruct)
    );
}

#[test]
fn invalid_utf8_is_an_error_or_replaced_on_request() {
    let bytes = [3, 0xff, b'a', b'b'];
    assert!(matches!(
        Reader::compact(&bytes).read_string(),
        Err(ThriftError::NotUtf8(0))
    ));
    assert_eq!(
        Reader::compact(&bytes).read_string_lossy().expect("lossy"),
        "\u{fffd}ab"
    );
}
