namespace Sunaiva.Contracts;

/// <summary>
/// Declares, on a service's assembly, an integration event it writes to its outbox and the record its data is
/// serialized from. docs/events.md is generated from these declarations; a test checks them against the code.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class PublishesEventAttribute(string type, Type data) : Attribute
{
    public string Type { get; } = type;

    public Type Data { get; } = data;

    /// <summary>The version of the data's shape; bump it (and keep reading the old one) on a breaking change.</summary>
    public int Version { get; init; } = 1;

    /// <summary>When the event is published, in one sentence.</summary>
    public string? When { get; init; }
}

/// <summary>Declares, on a service's assembly, an integration event one of its handlers consumes and the record it reads the data into.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class ConsumesEventAttribute(string type, Type data) : Attribute
{
    public string Type { get; } = type;

    public Type Data { get; } = data;

    /// <summary>What the consumer does with it, in one sentence.</summary>
    public string? Effect { get; init; }
}
