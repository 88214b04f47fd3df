using System.Runtime.CompilerServices;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// A cloud provider's speech request, sent when the stream is first read: a failure status throws (the chain moves on), and
/// the raw PCM16 mono body is read as it arrives, resampled to <see cref="TtsFormat.SampleRate"/>.
/// </summary>
internal static class CloudPcm
{
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> StreamAsync(
        HttpClient client, Func<HttpRequestMessage> makeRequest, int fromRate, string provider, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = makeRequest();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var resampler = new PcmResampler(fromRate, TtsFormat.SampleRate);
        var buffer = new byte[8192];
        var any = false;
        while (true)
        {
            var read = await body.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                break;
            }

            var pcm = resampler.Process(buffer.AsSpan(0, read));
            if (pcm.Length > 0)
            {
                any = true;
                yield return pcm;
            }
        }

        if (!any)
        {
            // An empty 200 is a failure, not silence: before the first chunk the chain moves on to the next adapter.
            throw new HttpRequestException($"{provider} answered without audio.");
        }
    }
}
