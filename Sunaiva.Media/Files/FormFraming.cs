using System.Text;

namespace Sunaiva.Media.Files;

/// <summary>
/// A multipart request body read through with its first bytes kept, so that once the reader has found the file's part
/// the framing in front of its content is known. For a form that holds the file alone (what HttpClient, curl and browsers
/// send for one file field) the content's length is then the body's length less that framing and the closing delimiter,
/// known before the content arrives, so the file can go to storage while it arrives. Only a hint: a form with more in it,
/// or an unusual epilogue, makes it wrong, and FileIngestion checks it against the bytes that come.
/// </summary>
internal sealed class FormFraming(Stream body, string boundary) : Stream
{
    // The reader allows part headers of 16 KiB; the first part starts a few bytes in.
    private readonly byte[] _head = new byte[20 * 1024];
    private int _kept;

    /// <summary>The content length of the form's first part if the body ends right after it, or null when the kept bytes do not show its start.</summary>
    public long? FirstPartLength(long? bodyLength)
    {
        var head = _head.AsSpan(0, _kept);
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        var at = head.IndexOf(delimiter);
        if (bodyLength is not { } total || at < 0 || (at > 0 && !head[..at].EndsWith("\r\n"u8)))
        {
            return null;
        }

        var headers = head[(at + delimiter.Length)..].IndexOf("\r\n\r\n"u8);
        if (headers < 0)
        {
            return null;
        }

        // After the content: CRLF, the delimiter, "--" and the CRLF every common client ends with.
        var length = total - (at + delimiter.Length + headers + 4) - (2 + delimiter.Length + 4);
        return length > 0 ? length : null;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await body.ReadAsync(buffer, cancellationToken);
        Keep(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = body.Read(buffer, offset, count);
        Keep(buffer.AsSpan(offset, read));
        return read;
    }

    private void Keep(ReadOnlySpan<byte> read)
    {
        var n = Math.Min(read.Length, _head.Length - _kept);
        read[..n].CopyTo(_head.AsSpan(_kept));
        _kept += n;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
