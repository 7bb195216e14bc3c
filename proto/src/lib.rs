//! Generated gRPC code for every Yiwang service. One crate so that services, the gateway and
//! department-system clients share exactly the same wire types.

/// The encoded `FileDescriptorSet` of every Yiwang proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/yiwang_descriptor.bin"));

/// The descriptors of every Yiwang proto, with their options (`google.api.http`,
/// `yiwang.api.v1.rest`) and comments: what the gateway derives its REST routes, JSON mapping
/// and OpenAPI document from.
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::LazyLock<prost_reflect::DescriptorPool> =
        std::sync::LazyLock::new(|| {
            prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
                .expect("the descriptor set compiled by build.rs decodes")
        });
    &POOL
}

/// The one JSON convention of every Yiwang message: the proto3 JSON mapping with proto field
/// names (snake_case), 64-bit integers as JSON numbers, every scalar field present, timestamps
/// as RFC 3339, `google.protobuf.Value` as the JSON itself — what REST clients read and what
/// audit records keep.
pub mod json {
    use prost_reflect::{DynamicMessage, SerializeOptions};

    pub fn options() -> SerializeOptions {
        SerializeOptions::new()
            .use_proto_field_name(true)
            .stringify_64_bit_integers(false)
            .skip_default_fields(false)
    }

    /// A message as JSON bytes.
    pub fn encode(message: &DynamicMessage) -> Result<Vec<u8>, serde_json::Error> {
        let mut body = Vec::with_capacity(256);
        message.serialize_with_options(
            &mut serde_json::Serializer::with_formatter(&mut body, WholeNumbers),
            &options(),
        )?;
        Ok(body)
    }

    /// A generated message as JSON bytes; `full_name` is its proto name, e.g.
    /// `yiwang.supervision.v1.Plan`.
    pub fn to_vec(message: &impl prost::Message, full_name: &str) -> Result<Vec<u8>, String> {
        let desc = crate::descriptor_pool()
            .get_message_by_name(full_name)
            .ok_or_else(|| format!("no message {full_name}"))?;
        let m = DynamicMessage::decode(desc, message.encode_to_vec().as_slice())
            .map_err(|e| format!("undecodable {full_name}: {e}"))?;
        encode(&m).map_err(|e| e.to_string())
    }

    /// A generated message as a JSON value (`Null` if `full_name` does not name its type).
    pub fn value(message: &impl prost::Message, full_name: &str) -> serde_json::Value {
        to_vec(message, full_name)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Prints a whole `double` as an integer (`80000000`, not `80000000.0`): free-form JSON in
    /// a `google.protobuf.Value` holds its numbers as doubles, and money in fen there must read
    /// as the integer it is.
    struct WholeNumbers;

    impl serde_json::ser::Formatter for WholeNumbers {
        fn write_f64<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            value: f64,
        ) -> std::io::Result<()> {
            // Below 2^53 every whole double is an exact integer.
            if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
                self.write_i64(writer, value as i64)
            } else {
                serde_json::ser::CompactFormatter.write_f64(writer, value)
            }
        }
    }
}

pub mod catalog {
    pub mod v1 {
        tonic::include_proto!("yiwang.catalog.v1");
    }
}

pub mod cases {
    pub mod v1 {
        tonic::include_proto!("yiwang.cases.v1");
    }
}

pub mod alerts {
    pub mod v1 {
        tonic::include_proto!("yiwang.alerts.v1");
    }
}

pub mod projects {
    pub mod v1 {
        tonic::include_proto!("yiwang.projects.v1");
    }
}

pub mod content {
    pub mod v1 {
        tonic::include_proto!("yiwang.content.v1");
    }
}

pub mod insight {
    pub mod v1 {
        tonic::include_proto!("yiwang.insight.v1");
    }
}

pub mod inbox {
    pub mod v1 {
        tonic::include_proto!("yiwang.inbox.v1");
    }
}

pub mod supervision {
    pub mod v1 {
        tonic::include_proto!("yiwang.supervision.v1");
    }
}
