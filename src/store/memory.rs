//! The in-process store used when no `[redis]` is configured: the same behaviour as Redis for
//! one instance (expiry, counters, one-use values), nothing shared between processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::{Admission, StoreError};

#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    indexes: Arc<Mutex<Indexes>>,
}

/// Sorted indexes by name.
type Indexes = HashMap<String, Index>;

/// One sorted index: member → live until (ms); the index itself may expire as a whole.
#[derive(Default)]
struct Index {
    members: HashMap<String, i64>,
    expires_at: Option<Instant>,
}

impl Index {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<String, Entry>>, StoreError> {
        self.entries.lock().map_err(|_| StoreError::Protocol("in-process store poisoned".to_owned()))
    }

    /// Drops expired entries now and then so a long-running instance does not grow.
    fn sweep(map: &mut HashMap<String, Entry>, now: Instant) {
        if map.len().is_multiple_of(1024) {
            map.retain(|_, e| e.live(now));
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let map = self.lock()?;
        Ok(map.get(key).filter(|e| e.live(now)).map(|e| e.value.clone()))
    }

    pub async fn get_and_touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        match map.get_mut(key) {
            Some(e) if e.live(now) => {
                e.expires_at = Some(now + ttl);
                Ok(Some(e.value.clone()))
            }
            _ => Ok(None),
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        Self::sweep(&mut map, now);
        map.insert(key.to_owned(), Entry { value: value.to_vec(), expires_at: ttl.map(|t| now + t) });
        Ok(())
    }

    pub async fn set_existing(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        match map.get_mut(key) {
            Some(e) if e.live(now) => {
                *e = Entry { value: value.to_vec(), expires_at: Some(now + ttl) };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub async fn head(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let map = self.lock()?;
        let value = map.get(key).filter(|e| e.live(now)).map(|e| &e.value[..len.min(e.value.len())]);
        Ok(value.filter(|head| !head.is_empty()).map(<[u8]>::to_vec))
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        if map.get(key).is_some_and(|e| e.live(now)) {
            return Ok(false);
        }
        map.insert(key.to_owned(), Entry { value: value.to_vec(), expires_at: Some(now + ttl) });
        Ok(true)
    }

    pub async fn renew_if(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        match map.get_mut(key) {
            Some(e) if e.live(now) && e.value == value => {
                e.expires_at = Some(now + ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        if map.get(key).is_some_and(|e| e.live(now) && e.value == value) {
            map.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.lock()?.remove(key).is_some_and(|e| e.live(now)))
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        Ok(self.lock()?.remove(key).filter(|e| e.live(now)).map(|e| e.value))
    }

    pub async fn increment(&self, key: &str, window: Duration) -> Result<i64, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        let entry = map
            .entry(key.to_owned())
            .and_modify(|e| {
                if !e.live(now) {
                    *e = Entry { value: b"0".to_vec(), expires_at: Some(now + window) };
                }
            })
            .or_insert_with(|| Entry { value: b"0".to_vec(), expires_at: Some(now + window) });
        let next = parse_counter(key, &entry.value)? + 1;
        entry.value = next.to_string().into_bytes();
        Ok(next)
    }

    pub async fn admit(
        &self,
        counter: &str,
        lock: &str,
        now_ms: i64,
        window: Duration,
        max: u32,
    ) -> Result<Admission, StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        let locked_until = map
            .get(lock)
            .filter(|e| e.live(now))
            .and_then(|e| std::str::from_utf8(&e.value).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        if locked_until > now_ms {
            return Ok(Admission::Locked(Duration::from_millis((locked_until - now_ms).unsigned_abs())));
        }
        let count = match map.get(counter).filter(|e| e.live(now)) {
            Some(e) => parse_counter(counter, &e.value)?,
            None => 0,
        };
        if count >= i64::from(max) {
            return Ok(Admission::Full);
        }
        let expires_at = map.get(counter).filter(|e| e.live(now)).and_then(|e| e.expires_at);
        let value = (count + 1).to_string().into_bytes();
        map.insert(counter.to_owned(), Entry { value, expires_at: expires_at.or(Some(now + window)) });
        Ok(Admission::Counted(count + 1))
    }

    pub async fn release(&self, counter: &str) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        if let Some(entry) = map.get_mut(counter).filter(|e| e.live(now)) {
            let count = parse_counter(counter, &entry.value)?;
            entry.value = (count - 1).to_string().into_bytes();
        }
        Ok(())
    }

    /// The indexes, with those past their expiry dropped (now and then, so that a long-running
    /// instance does not grow).
    fn indexes(&self) -> Result<MutexGuard<'_, Indexes>, StoreError> {
        let mut indexes =
            self.indexes.lock().map_err(|_| StoreError::Protocol("in-process store poisoned".to_owned()))?;
        if indexes.len().is_multiple_of(256) {
            let now = Instant::now();
            indexes.retain(|_, index| index.live(now));
        }
        Ok(indexes)
    }

    /// The live index named `name`, if any.
    fn live_index<'a>(indexes: &'a mut Indexes, name: &str) -> Option<&'a mut Index> {
        let now = Instant::now();
        if indexes.get(name).is_some_and(|index| !index.live(now)) {
            indexes.remove(name);
        }
        indexes.get_mut(name)
    }

    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        only_existing: bool,
    ) -> Result<(), StoreError> {
        let mut indexes = self.indexes()?;
        if Self::live_index(&mut indexes, index).is_none() {
            indexes.insert(index.to_owned(), Index::default());
        }
        let members = &mut Self::live_index(&mut indexes, index).ok_or_else(gone)?.members;
        if !only_existing || members.contains_key(member) {
            members.insert(member.to_owned(), until_ms);
        }
        Ok(())
    }

    pub async fn index_put_expiring(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        self.index_put(index, member, until_ms, false).await?;
        let mut indexes = self.indexes()?;
        Self::live_index(&mut indexes, index).ok_or_else(gone)?.expires_at = Some(Instant::now() + keep_for);
        Ok(())
    }

    pub async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        if let Some(found) = Self::live_index(&mut *self.indexes()?, index) {
            found.members.remove(member);
        }
        Ok(())
    }

    pub async fn index_members(&self, index: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut indexes = self.indexes()?;
        let mut members: Vec<(String, i64)> = Self::live_index(&mut indexes, index)
            .map(|found| found.members.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        members.sort_by_key(|(member, score)| (*score, member.clone()));
        Ok(members)
    }

    pub async fn index_score(&self, index: &str, member: &str) -> Result<Option<i64>, StoreError> {
        let mut indexes = self.indexes()?;
        Ok(Self::live_index(&mut indexes, index).and_then(|found| found.members.get(member).copied()))
    }

    pub async fn index_count(&self, index: &str, now_ms: i64) -> Result<u64, StoreError> {
        let mut indexes = self.indexes()?;
        let Some(found) = Self::live_index(&mut indexes, index) else { return Ok(0) };
        found.members.retain(|_, until| *until > now_ms);
        Ok(found.members.len() as u64)
    }

    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut map = self.lock()?;
        let before = map.len();
        map.retain(|k, _| !k.starts_with(prefix));
        Ok((before - map.len()) as u64)
    }

    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let now = Instant::now();
        let map = self.lock()?;
        Ok(map.iter().filter(|(k, e)| k.starts_with(prefix) && e.live(now)).count() as u64)
    }
}

/// An index that was just there is not (cannot happen under the lock held).
fn gone() -> StoreError {
    StoreError::Protocol("in-process index vanished".to_owned())
}

fn parse_counter(key: &str, value: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Protocol(format!("{key} is not a counter")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expiry_counters_and_one_use_values_behave_like_redis() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        store.set("a", b"1", Some(Duration::from_secs(30))).await?;
        assert_eq!(store.get("a").await?, Some(b"1".to_vec()));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(store.get("a").await?, None);

        assert_eq!(store.increment("c", Duration::from_secs(60)).await?, 1);
        assert_eq!(store.increment("c", Duration::from_secs(60)).await?, 2);

        assert!(store.set_if_absent("l", b"x", Duration::from_secs(60)).await?);
        assert!(!store.set_if_absent("l", b"y", Duration::from_secs(60)).await?);
        assert_eq!(store.take("l").await?, Some(b"x".to_vec()));
        assert_eq!(store.take("l").await?, None);

        assert!(!store.set_existing("x", b"1", Duration::from_secs(60)).await?, "never creates");
        assert_eq!(store.head("x", 2).await?, None);
        store.set("x", b"1", None).await?;
        assert!(store.set_existing("x", b"234", Duration::from_secs(60)).await?);
        assert_eq!(store.head("x", 2).await?, Some(b"23".to_vec()));
        assert_eq!(store.head("x", 9).await?, Some(b"234".to_vec()), "no longer than the value");
        assert_eq!(store.head("x", 0).await?, None);
        assert_eq!(store.get("x").await?, Some(b"234".to_vec()));

        store.set("p:1", b"", None).await?;
        store.set("p:2", b"", None).await?;
        assert_eq!(store.count_prefix("p:").await?, 2);
        assert_eq!(store.delete_prefix("p:").await?, 2);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiring_index_goes_as_a_whole() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        store.index_put_expiring("i", "a", 5, Duration::from_secs(60)).await?;
        store.index_put("i", "b", 7, false).await?;
        assert_eq!(store.index_members("i").await?, [("a".to_owned(), 5), ("b".to_owned(), 7)]);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(store.index_members("i").await?, []);
        assert_eq!(store.index_score("i", "b").await?, None);
        store.index_put("i", "c", 9, false).await?;
        assert_eq!(store.index_members("i").await?, [("c".to_owned(), 9)], "a new index, without expiry");
        Ok(())
    }
}
