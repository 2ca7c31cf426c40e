//! Packing `\n`-terminated messages into datagrams no larger than the transport's limit.

/// What happened to a message handed to [`Batch::push`].
#[derive(Debug)]
pub(crate) enum Pushed {
    /// The message is in the batch.
    Buffered,
    /// The message is in a fresh batch; the returned datagram (the previous contents) is full
    /// and must be sent.
    Full(Vec<u8>),
    /// The message alone is larger than a datagram; it was not kept. Holds its length.
    TooLong(usize),
}

/// The datagram being filled. Messages are written in place (no per-message allocation); a
/// message that does not fit is moved into the next datagram. Sent datagrams come back through
/// [`Batch::recycle`], so filling one allocates nothing either.
#[derive(Debug)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    max: usize,
    /// A sent datagram's buffer, emptied, for the next one.
    spare: Option<Vec<u8>>,
    /// Metric messages written, per type (indexed like [`crate::MetricType::ALL`]): counted here
    /// because the lock is held anyway.
    pub(crate) metrics_by_type: [u64; 6],
}

impl Batch {
    /// An empty batch for datagrams of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Batch {
            buf: Self::buffer(max),
            max,
            spare: None,
            metrics_by_type: [0; 6],
        }
    }

    /// Room for a full datagram plus the message that spills over it (at most `max` bytes), so
    /// writing a message never reallocates.
    fn buffer(max: usize) -> Vec<u8> {
        Vec::with_capacity(max.saturating_mul(2))
    }

    fn fresh(&mut self) -> Vec<u8> {
        self.spare.take().unwrap_or_else(|| Self::buffer(self.max))
    }

    /// Takes back a datagram returned by [`Batch::push`] or [`Batch::take`] once it is sent.
    pub(crate) fn recycle(&mut self, mut datagram: Vec<u8>) {
        datagram.clear();
        self.spare = Some(datagram);
    }

    /// Appends the message written by `write`, which must end it with `\n`.
    pub(crate) fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Pushed {
        let start = self.buf.len();
        write(&mut self.buf);
        let len = self.buf.len() - start;
        if len > self.max {
            self.buf.truncate(start);
            return Pushed::TooLong(len);
        }
        if self.buf.len() <= self.max {
            return Pushed::Buffered;
        }
        // The message spills over: it starts the next datagram, the rest is complete.
        let mut next = self.fresh();
        next.extend_from_slice(&self.buf[start..]);
        self.buf.truncate(start);
        Pushed::Full(std::mem::replace(&mut self.buf, next))
    }

    /// Takes the pending datagram, if any, leaving the batch empty.
    pub(crate) fn take(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            None
        } else {
            let next = self.fresh();
            Some(std::mem::replace(&mut self.buf, next))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> impl FnOnce(&mut Vec<u8>) + '_ {
        move |buf: &mut Vec<u8>| {
            buf.extend_from_slice(text.as_bytes());
            buf.push(b'\n');
        }
    }

    #[test]
    fn packs_until_full_then_starts_a_new_datagram() {
        let mut batch = Batch::new(12);
        assert!(matches!(batch.push(line("a:1|c")), Pushed::Buffered));
        assert!(matches!(batch.push(line("b:1|c")), Pushed::Buffered));
        let Pushed::Full(full) = batch.push(line("c:1|c")) else {
            panic!("the third message does not fit");
        };
        assert_eq!(full, b"a:1|c\nb:1|c\n");
        let reused = full.as_ptr();
        batch.recycle(full);
        assert_eq!(batch.take().unwrap(), b"c:1|c\n");
        assert!(batch.take().is_none());
        assert!(matches!(batch.push(line("d:1|c")), Pushed::Buffered));
        assert_eq!(
            batch.buf.as_ptr(),
            reused,
            "the sent datagram's buffer is reused"
        );
        assert_eq!(batch.take().unwrap(), b"d:1|c\n");
    }

    #[test]
    fn a_message_larger_than_a_datagram_is_refused_without_losing_the_batch() {
        let mut batch = Batch::new(8);
        assert!(matches!(batch.push(line("a:1|c")), Pushed::Buffered));
        assert!(matches!(
            batch.push(line("long.name:1|c")),
            Pushed::TooLong(14)
        ));
        assert_eq!(batch.take().unwrap(), b"a:1|c\n");
    }
}
