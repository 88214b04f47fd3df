using Sunaiva.Integration;

namespace Sunaiva.Voice.Pipeline;

/// <summary>The <c>stt</c> capability: ends an utterance the pipeline streamed into a decoder and returns its text.</summary>
public interface ISttAdapter : IProviderAdapter
{
    ValueTask<string> FinishAsync(SphinxUtterance utterance, CancellationToken cancellationToken);
}

/// <summary>
/// pocketsphinx behind the <c>stt</c> chain (provider <c>local-speech</c>): the final decode runs inside the chain so its
/// breaker, chaos switch and metering apply; the audio itself was fed while the user spoke.
/// </summary>
public sealed class PocketSphinxStt : ISttAdapter
{
    public string Provider => "local-speech";

    public ValueTask<string> FinishAsync(SphinxUtterance utterance, CancellationToken cancellationToken) =>
        ValueTask.FromResult(utterance.Finish());
}
