//! The Arrow schemas of `data.parquet` and `traces.parquet`, and how they are written.
//!
//! `docs/format/blocks-v1.md` is the specification; the column names here are part of
//! the format (a test checks the written file against the documented list).

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

/// The value-type a dedicated attribute column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedicatedType {
    /// `AttributeValue::String`, stored as a dictionary-encoded string.
    String,
    /// `AttributeValue::String` of high cardinality, stored as a plain string.
    PlainString,
    /// `AttributeValue::Int`, stored as Int64.
    Int,
}

/// An attribute key with its own column.
#[derive(Debug, Clone, Copy)]
pub struct Dedicated {
    /// The attribute key.
    pub key: &'static str,
    /// The column name.
    pub column: &'static str,
    /// The value type the column holds; other types go to the generic list.
    pub value_type: DedicatedType,
}

const fn dedicated(
    key: &'static str,
    column: &'static str,
    value_type: DedicatedType,
) -> Dedicated {
    Dedicated {
        key,
        column,
        value_type,
    }
}

/// The dedicated attribute columns, in column order. The position in this list is the
/// number `attr_layout` refers to (position + 1), so the list is append-only within a
/// format version.
pub const DEDICATED: [Dedicated; 19] = [
    dedicated(
        "http.request.method",
        "attr_http_request_method",
        DedicatedType::String,
    ),
    dedicated("http.method", "attr_http_method", DedicatedType::String),
    dedicated("http.route", "attr_http_route", DedicatedType::String),
    dedicated(
        "http.response.status_code",
        "attr_http_response_status_code",
        DedicatedType::Int,
    ),
    dedicated(
        "http.status_code",
        "attr_http_status_code",
        DedicatedType::Int,
    ),
    dedicated("url.path", "attr_url_path", DedicatedType::PlainString),
    dedicated("url.scheme", "attr_url_scheme", DedicatedType::String),
    dedicated(
        "user_agent.original",
        "attr_user_agent_original",
        DedicatedType::String,
    ),
    dedicated("db.system", "attr_db_system", DedicatedType::String),
    dedicated("db.operation", "attr_db_operation", DedicatedType::String),
    dedicated("db.statement", "attr_db_statement", DedicatedType::String),
    dedicated("rpc.system", "attr_rpc_system", DedicatedType::String),
    dedicated("rpc.service", "attr_rpc_service", DedicatedType::String),
    dedicated("rpc.method", "attr_rpc_method", DedicatedType::String),
    dedicated(
        "server.address",
        "attr_server_address",
        DedicatedType::String,
    ),
    dedicated("server.port", "attr_server_port", DedicatedType::Int),
    dedicated("net.peer.name", "attr_net_peer_name", DedicatedType::String),
    dedicated("peer.service", "attr_peer_service", DedicatedType::String),
    dedicated("error", "attr_error", DedicatedType::String),
];

/// The position of `key` in [`DEDICATED`].
pub fn dedicated_index(key: &str) -> Option<usize> {
    // A match compiles to length-then-bytes comparisons, cheaper than a hash per key.
    Some(match key {
        "http.request.method" => 0,
        "http.method" => 1,
        "http.route" => 2,
        "http.response.status_code" => 3,
        "http.status_code" => 4,
        "url.path" => 5,
        "url.scheme" => 6,
        "user_agent.original" => 7,
        "db.system" => 8,
        "db.operation" => 9,
        "db.statement" => 10,
        "rpc.system" => 11,
        "rpc.service" => 12,
        "rpc.method" => 13,
        "server.address" => 14,
        "server.port" => 15,
        "net.peer.name" => 16,
        "peer.service" => 17,
        "error" => 18,
        _ => return None,
    })
}

/// Column names of `data.parquet` (top level).
pub mod data_columns {
    /// FixedSizeBinary(16).
    pub const TRACE_ID: &str = "trace_id";
    /// FixedSizeBinary(8).
    pub const SPAN_ID: &str = "span_id";
    /// Int32, nullable: the parent's row offset from the trace's first row in the row group.
    pub const PARENT_ROW: &str = "parent_row";
    /// FixedSizeBinary(8), nullable: the parent id when `parent_row` cannot name it.
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    /// UInt64.
    pub const START: &str = "start_unix_nanos";
    /// UInt64.
    pub const DURATION: &str = "duration_nanos";
    /// Dictionary string.
    pub const NAME: &str = "name";
    /// UInt8 (OTLP number).
    pub const KIND: &str = "kind";
    /// UInt8 (OTLP number).
    pub const STATUS_CODE: &str = "status_code";
    /// Dictionary string.
    pub const STATUS_MESSAGE: &str = "status_message";
    /// Dictionary string.
    pub const TRACE_STATE: &str = "trace_state";
    /// UInt32.
    pub const FLAGS: &str = "flags";
    /// UInt32.
    pub const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
    /// UInt32.
    pub const DROPPED_EVENTS: &str = "dropped_events_count";
    /// UInt32.
    pub const DROPPED_LINKS: &str = "dropped_links_count";
    /// Boolean.
    pub const SHARED: &str = "shared";
    /// Boolean.
    pub const DEBUG: &str = "debug";
    /// Dictionary string, nullable.
    pub const SERVICE_NAME: &str = "service_name";
    /// Dictionary binary: the postcard-encoded resource.
    pub const RESOURCE: &str = "resource";
    /// Dictionary string.
    pub const SCOPE_NAME: &str = "scope_name";
    /// Dictionary string.
    pub const SCOPE_VERSION: &str = "scope_version";
    /// Dictionary binary, nullable: postcard `Vec<KeyValue>`.
    pub const SCOPE_ATTRIBUTES: &str = "scope_attributes";
    /// Dictionary binary, nullable: where dedicated attributes sit in the attribute order.
    pub const ATTR_LAYOUT: &str = "attr_layout";
    /// List of attribute structs.
    pub const ATTRIBUTES: &str = "attributes";
    /// List of event structs.
    pub const EVENTS: &str = "events";
    /// List of link structs.
    pub const LINKS: &str = "links";
}

/// Field names of the generic attribute struct.
pub mod attribute_fields {
    /// The key (string).
    pub const KEY: &str = "key";
    /// `String` values.
    pub const STRING: &str = "str";
    /// `Int` values.
    pub const INT: &str = "int";
    /// `Double` values.
    pub const DOUBLE: &str = "double";
    /// `Bool` values.
    pub const BOOL: &str = "bool";
    /// `Bytes` values.
    pub const BYTES: &str = "bytes";
    /// `Array` and `KeyValueList` values, postcard-encoded `AttributeValue`.
    pub const COMPOSITE: &str = "composite";
}

/// Column names of `traces.parquet`.
pub mod trace_columns {
    /// FixedSizeBinary(16).
    pub const TRACE_ID: &str = "trace_id";
    /// UInt64.
    pub const START: &str = "start_unix_nanos";
    /// UInt64.
    pub const END: &str = "end_unix_nanos";
    /// UInt32.
    pub const SPAN_COUNT: &str = "span_count";
    /// UInt32.
    pub const ERROR_COUNT: &str = "error_count";
    /// Dictionary string, nullable (null: no root).
    pub const ROOT_SERVICE: &str = "root_service_name";
    /// String, nullable (null: no root).
    pub const ROOT_NAME: &str = "root_span_name";
    /// UInt64, nullable.
    pub const ROOT_START: &str = "root_start_unix_nanos";
    /// Boolean, nullable.
    pub const ROOT_SHARED: &str = "root_shared";
    /// List of strings.
    pub const SERVICES: &str = "services";
}

/// The name of list items in every list column (Parquet's own convention).
pub const LIST_ITEM: &str = "element";

fn dictionary_string() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn dictionary_binary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary))
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new(
        LIST_ITEM,
        DataType::Struct(fields),
        false,
    )))
}

/// The fields of one generic attribute.
pub fn attribute_struct_fields() -> Fields {
    use attribute_fields::*;
    Fields::from(vec![
        Field::new(KEY, DataType::Utf8, false),
        Field::new(STRING, DataType::Utf8, true),
        Field::new(INT, DataType::Int64, true),
        Field::new(DOUBLE, DataType::Float64, true),
        Field::new(BOOL, DataType::Boolean, true),
        Field::new(BYTES, DataType::Binary, true),
        Field::new(COMPOSITE, DataType::Binary, true),
    ])
}

/// `List<attribute struct>`.
pub fn attribute_list_type() -> DataType {
    list_of(attribute_struct_fields())
}

/// The fields of one event.
pub fn event_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("time_offset_nanos", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", attribute_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

/// The fields of one link.
pub fn link_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("trace_state", DataType::Utf8, false),
        Field::new("flags", DataType::UInt32, false),
        Field::new("attributes", attribute_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

/// The schema of `data.parquet`.
pub fn data_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        use data_columns::*;
        let mut fields = vec![
            Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
            Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
            Field::new(PARENT_ROW, DataType::Int32, true),
            Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
            Field::new(START, DataType::UInt64, false),
            Field::new(DURATION, DataType::UInt64, false),
            Field::new(NAME, dictionary_string(), false),
            Field::new(KIND, DataType::UInt8, false),
            Field::new(STATUS_CODE, DataType::UInt8, false),
            Field::new(STATUS_MESSAGE, dictionary_string(), false),
            Field::new(TRACE_STATE, dictionary_string(), false),
            Field::new(FLAGS, DataType::UInt32, false),
            Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
            Field::new(DROPPED_EVENTS, DataType::UInt32, false),
            Field::new(DROPPED_LINKS, DataType::UInt32, false),
            Field::new(SHARED, DataType::Boolean, false),
            Field::new(DEBUG, DataType::Boolean, false),
            Field::new(SERVICE_NAME, dictionary_string(), true),
            Field::new(RESOURCE, dictionary_binary(), false),
            Field::new(SCOPE_NAME, dictionary_string(), false),
            Field::new(SCOPE_VERSION, dictionary_string(), false),
            Field::new(SCOPE_ATTRIBUTES, dictionary_binary(), true),
            Field::new(ATTR_LAYOUT, dictionary_binary(), true),
        ];
        for column in &DEDICATED {
            let data_type = match column.value_type {
                DedicatedType::String => dictionary_string(),
                DedicatedType::PlainString => DataType::Utf8,
                DedicatedType::Int => DataType::Int64,
            };
            fields.push(Field::new(column.column, data_type, true));
        }
        fields.push(Field::new(ATTRIBUTES, attribute_list_type(), false));
        fields.push(Field::new(EVENTS, list_of(event_struct_fields()), false));
        fields.push(Field::new(LINKS, list_of(link_struct_fields()), false));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// The schema of `traces.parquet`.
pub fn trace_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        use trace_columns::*;
        Arc::new(Schema::new(vec![
            Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
            Field::new(START, DataType::UInt64, false),
            Field::new(END, DataType::UInt64, false),
            Field::new(SPAN_COUNT, DataType::UInt32, false),
            Field::new(ERROR_COUNT, DataType::UInt32, false),
            Field::new(ROOT_SERVICE, dictionary_string(), true),
            Field::new(ROOT_NAME, DataType::Utf8, true),
            Field::new(ROOT_START, DataType::UInt64, true),
            Field::new(ROOT_SHARED, DataType::Boolean, true),
            Field::new(
                SERVICES,
                DataType::List(Arc::new(Field::new(LIST_ITEM, DataType::Utf8, false))),
                false,
            ),
        ]))
    });
    SCHEMA.clone()
}

/// Rows per data page: a trace lookup reads about one page per column, so this bounds
/// lookup cost (about 100 KB per page set on the benchmark corpus).
pub const DATA_PAGE_ROWS: usize = 4096;

/// The zstd level of both Parquet files (level 3: see `docs/format/blocks-v1.md`).
pub const ZSTD_LEVEL: i32 = 3;

fn zstd() -> Compression {
    // Level 3 is always valid; fall back to the default level rather than panic.
    Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default())
}

/// Columns (Parquet paths) written with a dictionary: the low-cardinality ones.
fn dictionary_columns() -> Vec<ColumnPath> {
    use data_columns::*;
    let mut paths: Vec<ColumnPath> = [
        NAME,
        KIND,
        STATUS_CODE,
        STATUS_MESSAGE,
        TRACE_STATE,
        FLAGS,
        DROPPED_ATTRIBUTES,
        DROPPED_EVENTS,
        DROPPED_LINKS,
        SERVICE_NAME,
        RESOURCE,
        SCOPE_NAME,
        SCOPE_VERSION,
        SCOPE_ATTRIBUTES,
        ATTR_LAYOUT,
    ]
    .iter()
    .map(|name| ColumnPath::from(vec![(*name).to_owned()]))
    .collect();
    for column in &DEDICATED {
        if column.value_type != DedicatedType::PlainString {
            paths.push(ColumnPath::from(vec![column.column.to_owned()]));
        }
    }
    let attribute = |list: &[&str], field: &str| {
        let mut path: Vec<String> = list.iter().map(|part| (*part).to_owned()).collect();
        path.extend(["list".to_owned(), LIST_ITEM.to_owned()]);
        path.extend([field.to_owned()]);
        ColumnPath::from(path)
    };
    let attribute_lists: [&[&str]; 3] = [
        &[ATTRIBUTES],
        &[EVENTS, "list", LIST_ITEM, "attributes"],
        &[LINKS, "list", LIST_ITEM, "attributes"],
    ];
    for list in attribute_lists {
        paths.push(attribute(list, attribute_fields::KEY));
        paths.push(attribute(list, attribute_fields::STRING));
        paths.push(attribute(list, attribute_fields::INT));
    }
    paths.push(attribute(&[EVENTS], "name"));
    paths
}

/// Writer properties of `data.parquet`: zstd, dictionaries only on low-cardinality
/// columns, page statistics (column index) on the columns that pruning reads, chunk
/// statistics elsewhere, offset index on, small pages.
pub fn data_writer_properties(max_row_group_rows: usize) -> WriterProperties {
    use data_columns::*;
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd())
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_data_page_row_count_limit(DATA_PAGE_ROWS)
        .set_write_batch_size(1024)
        .set_max_row_group_row_count(Some(max_row_group_rows.max(1)))
        .set_created_by(String::from("weft block format v1"));
    for path in dictionary_columns() {
        builder = builder.set_column_dictionary_enabled(path, true);
    }
    for name in [TRACE_ID, START, DURATION] {
        builder =
            builder.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Page);
    }
    // Sorted 16-byte ids repeat once per span of a trace: prefix encoding stores a
    // repeat as a zero-length suffix.
    builder = builder.set_column_encoding(ColumnPath::from(TRACE_ID), Encoding::DELTA_BYTE_ARRAY);
    builder.build()
}

/// Writer properties of `traces.parquet`.
pub fn trace_writer_properties() -> WriterProperties {
    use trace_columns::*;
    WriterProperties::builder()
        .set_compression(zstd())
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from(ROOT_SERVICE), true)
        .set_column_dictionary_enabled(ColumnPath::from(ROOT_NAME), true)
        .set_column_dictionary_enabled(
            ColumnPath::from(vec![
                SERVICES.to_owned(),
                "list".to_owned(),
                LIST_ITEM.to_owned(),
            ]),
            true,
        )
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_encoding(ColumnPath::from(TRACE_ID), Encoding::DELTA_BYTE_ARRAY)
        .set_created_by(String::from("weft block format v1"))
        .build()
}
