//! Origin detection: the container id (`c:ci-<id>`) or cgroup inode (`c:in-<inode>`) the Agent
//! uses to tag metrics with the sending container's tags.

use std::os::unix::fs::MetadataExt;

/// The cgroup namespace inode of the host; a process in it is not in a container.
const HOST_CGROUP_NAMESPACE_INODE: u64 = 0xEFFF_FFFB;

/// The `c:` value for this process, if any can be found.
pub(crate) fn detect() -> Option<String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some(id) = container_id_in_cgroup(&cgroup) {
        return Some(format!("ci-{id}"));
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(id) = container_id_in_mountinfo(&mountinfo) {
        return Some(format!("ci-{id}"));
    }
    cgroup_inode(&cgroup).map(|inode| format!("in-{inode}"))
}

/// 64 hex digits (Docker, containerd, CRI-O), `<32 hex>-<digits>` (ECS Fargate) or a UUID (Garden).
fn is_container_id(candidate: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if candidate.len() == 64 && hex(candidate) {
        return true;
    }
    if let Some((task, suffix)) = candidate.split_once('-')
        && task.len() == 32
        && hex(task)
        && !suffix.is_empty()
        && suffix.bytes().all(|b| b.is_ascii_digit())
    {
        return true;
    }
    let parts: Vec<&str> = candidate.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| hex(p))
}

/// The id in the last path component of a cgroup path, without runtime prefixes and `.scope`.
fn id_in_path(path: &str) -> Option<&str> {
    path.split('/').rev().find_map(|component| {
        let component = component.strip_suffix(".scope").unwrap_or(component);
        let id = component
            .rsplit_once('-')
            .map_or(component, |(prefix, id)| {
                // `docker-<id>`, `cri-containerd-<id>`, `crio-<id>`, `libpod-<id>`; ECS and UUID ids
                // contain dashes themselves, so only strip a prefix that leaves a 64-hex id.
                if id.len() == 64 && !prefix.is_empty() {
                    id
                } else {
                    component
                }
            });
        is_container_id(id).then_some(id)
    })
}

fn container_id_in_cgroup(cgroup: &str) -> Option<&str> {
    cgroup
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(id_in_path)
}

fn container_id_in_mountinfo(mountinfo: &str) -> Option<&str> {
    mountinfo.lines().find_map(|line| {
        line.split(' ').find_map(|field| {
            let (_, after) = field.split_once("/containers/")?;
            let id = after.split('/').next()?;
            (id.len() == 64 && is_container_id(id) && !field.contains("/sandboxes/")).then_some(id)
        })
    })
}

/// The inode of this process's cgroup directory, when it is in its own cgroup namespace.
fn cgroup_inode(cgroup: &str) -> Option<u64> {
    let namespace = std::fs::metadata("/proc/self/ns/cgroup").ok()?;
    if namespace.ino() == HOST_CGROUP_NAMESPACE_INODE {
        return None;
    }
    // cgroup v2: the single `0::<path>` line.
    let path = cgroup.lines().find_map(|line| line.strip_prefix("0::"))?;
    let directory = format!("/sys/fs/cgroup{}", path.trim_end());
    let inode = std::fs::metadata(directory).ok()?.ino();
    (inode > 2).then_some(inode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860";

    #[test]
    fn finds_ids_in_cgroup_files() {
        let v1 = format!("12:memory:/docker/{DOCKER}\n11:cpu:/docker/{DOCKER}\n");
        assert_eq!(container_id_in_cgroup(&v1), Some(DOCKER));
        let systemd = format!("0::/system.slice/docker-{DOCKER}.scope\n");
        assert_eq!(container_id_in_cgroup(&systemd), Some(DOCKER));
        let ecs = "9:perf_event:/ecs/55091c13-b8cf-4801-b527-f4601742204d/432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da\n";
        assert_eq!(
            container_id_in_cgroup(ecs),
            Some("432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da")
        );
        let fargate = "1:name=systemd:/ecs/8474ca4c9b9a4bd4a8a7a8e3e7d6f5a1/8474ca4c9b9a4bd4a8a7a8e3e7d6f5a1-3478458323\n";
        assert_eq!(
            container_id_in_cgroup(fargate),
            Some("8474ca4c9b9a4bd4a8a7a8e3e7d6f5a1-3478458323")
        );
        assert_eq!(container_id_in_cgroup("0::/\n"), None);
        assert_eq!(container_id_in_cgroup("garbage"), None);
    }

    #[test]
    fn finds_ids_in_mountinfo() {
        let line = format!(
            "2282 2275 254:1 /docker/containers/{DOCKER}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_in_mountinfo(&line), Some(DOCKER));
        assert_eq!(
            container_id_in_mountinfo("1 2 3:4 / / rw - ext4 /dev/vda rw\n"),
            None
        );
    }
}
