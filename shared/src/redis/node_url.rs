//! How Node clients read a `redis://` URL: the strict reader the URL tests check secrets with.

/// `decodeURIComponent` as Node runs it (node-redis and ioredis read a `redis://` URL with it):
/// `%` must start a valid escape and the bytes must be UTF-8, or it throws. The strict client
/// the URL tests read the secrets' URLs back with.
pub fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
