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

pub mod supervision {
    pub mod v1 {
        tonic::include_proto!("yiwang.supervision.v1");
    }
}
