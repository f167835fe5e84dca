use serde::{Deserialize, Serialize};
use tidemark_model::assignment::{Assignment, SliceId};
use tidemark_model::TopicPartition;
use tidemark_ports::{ClusterView, CoordError, Member, MemberInfo};

/// Key names of one cluster, and their JSON values.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    root: String,
}

#[derive(Serialize, Deserialize)]
struct MemberValue {
    id: String,
    address: String,
    slices: u32,
    joined_at_ms: i64,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct OwnerValue {
    pub member: String,
    pub slice: u32,
}

#[derive(Serialize, Deserialize)]
struct AssignmentValue {
    /// (topic, partition, member, slice)
    partitions: Vec<(String, i32, String, u32)>,
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> CoordError {
    CoordError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    }
}

impl Keys {
    pub fn new(cluster: &str) -> Self {
        Self {
            root: format!("tidemark/{cluster}/"),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn member(&self, id: &str) -> String {
        format!("{}members/{id}", self.root)
    }

    pub fn assignment(&self) -> String {
        format!("{}assignment", self.root)
    }

    pub fn owner(&self, tp: &TopicPartition) -> String {
        format!("{}owners/{}/{}", self.root, tp.topic, tp.partition)
    }

    pub fn incarnation(&self) -> String {
        format!("{}incarnation", self.root)
    }

    pub fn parse_incarnation(key: &str, kv: &etcd_client::KeyValue) -> Result<i64, CoordError> {
        let value = kv.value_str().map_err(|e| corrupt(key, e))?;
        value.trim().parse().map_err(|e| corrupt(key, e))
    }

    pub fn member_value(info: &MemberInfo) -> String {
        serde_json::json!(MemberValue {
            id: info.id.clone(),
            address: info.address.clone(),
            slices: info.slices,
            joined_at_ms: info.joined_at_ms,
        })
        .to_string()
    }

    pub fn owner_value(member: &str, slice: u32) -> String {
        serde_json::json!(OwnerValue {
            member: member.to_string(),
            slice,
        })
        .to_string()
    }

    pub fn assignment_value(assignment: &Assignment) -> String {
        let partitions = assignment
            .iter()
            .map(|(tp, s)| {
                (
                    tp.topic.to_string(),
                    tp.partition,
                    s.member.clone(),
                    s.slice,
                )
            })
            .collect();
        serde_json::json!(AssignmentValue { partitions }).to_string()
    }

    pub fn parse_view(&self, kvs: &[etcd_client::KeyValue]) -> Result<ClusterView, CoordError> {
        let mut view = ClusterView::default();
        let members_prefix = format!("{}members/", self.root);
        let owners_prefix = format!("{}owners/", self.root);
        let assignment_key = self.assignment();
        for kv in kvs {
            let key = kv.key_str().map_err(|e| corrupt("?", e))?;
            let value = kv.value_str().map_err(|e| corrupt(key, e))?;
            if key.starts_with(&members_prefix) {
                let m: MemberValue = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
                view.members.push(Member {
                    info: MemberInfo {
                        id: m.id,
                        address: m.address,
                        slices: m.slices,
                        joined_at_ms: m.joined_at_ms,
                    },
                    created_revision: kv.create_revision(),
                });
            } else if let Some(rest) = key.strip_prefix(&owners_prefix) {
                let (topic, partition) = rest
                    .rsplit_once('/')
                    .ok_or_else(|| corrupt(key, "owner key without partition"))?;
                let partition: i32 = partition.parse().map_err(|e| corrupt(key, e))?;
                let o: OwnerValue = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
                view.owners.insert(
                    TopicPartition::new(topic, partition),
                    SliceId {
                        member: o.member,
                        slice: o.slice,
                    },
                );
            } else if key == assignment_key {
                let a: AssignmentValue =
                    serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
                view.assignment = a
                    .partitions
                    .into_iter()
                    .map(|(t, p, member, slice)| {
                        (TopicPartition::new(t, p), SliceId { member, slice })
                    })
                    .collect();
                view.assignment_revision = kv.mod_revision();
            }
        }
        view.members.sort_by_key(|m| m.created_revision);
        Ok(view)
    }
}
