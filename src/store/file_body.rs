//! `FileBody`: a stored blob streamed from its file, in bounded chunks.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use tokio::io::AsyncRead;

/// A stored blob streamed from its file, in bounded chunks.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buffer: BytesMut,
}

const CHUNK: usize = 64 * 1024;

impl FileBody {
    pub fn new(file: tokio::fs::File, size: u64) -> FileBody {
        FileBody {
            file,
            remaining: size,
            buffer: BytesMut::with_capacity(CHUNK),
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        this.buffer.clear();
        this.buffer.resize(CHUNK.min(this.remaining as usize), 0);
        let mut read = tokio::io::ReadBuf::new(&mut this.buffer);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "stored blob is shorter than recorded",
                    ))));
                }
                this.remaining -= n as u64;
                let chunk = this.buffer.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
