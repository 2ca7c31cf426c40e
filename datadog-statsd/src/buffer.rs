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
/// message that does not fit is moved into the next datagram.
#[derive(Debug)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    max: usize,
}

impl Batch {
    /// An empty batch for datagrams of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Batch {
            buf: Vec::with_capacity(max),
            max,
        }
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
        let mut next = Vec::with_capacity(self.max);
        next.extend_from_slice(&self.buf[start..]);
        self.buf.truncate(start);
        Pushed::Full(std::mem::replace(&mut self.buf, next))
    }

    /// Takes the pending datagram, if any, leaving the batch empty.
    pub(crate) fn take(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            None
        } else {
            Some(std::mem::replace(
                &mut self.buf,
                Vec::with_capacity(self.max),
            ))
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
        assert_eq!(batch.take().unwrap(), b"c:1|c\n");
        assert!(batch.take().is_none());
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
