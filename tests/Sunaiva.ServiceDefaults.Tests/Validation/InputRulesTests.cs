using MimeKit;
using Sunaiva.Contracts;

namespace Sunaiva.ServiceDefaults.Tests.Validation;

public sealed class InputRulesTests
{
    [Theory]
    [InlineData("a\"b@x.com")]
    [InlineData("a<b>@x.com")]
    [InlineData("a,b@x.com")]
    [InlineData("a;b@x.com")]
    [InlineData("a:b@x.com")]
    [InlineData("a\\b@x.com")]
    [InlineData(".a@x.com")]
    [InlineData("a.@x.com")]
    [InlineData("a..b@x.com")]
    [InlineData("a@example..com")]
    [InlineData("a(b)@example.com")]
    [InlineData("a@example.com.")]
    [InlineData("Ada <a@example.com>")]
    [InlineData("\"a b\"@example.com")]
    [InlineData("a@[127.0.0.1]")]
    [InlineData("a@localhost")]
    [InlineData("a@example.com\n")]
    public void Addresses_the_mailer_would_refuse_or_rewrite_are_invalid(string value)
    {
        Assert.False(InputRules.TryNormalizeEmail(value, out _));
    }

    [Theory]
    [InlineData("ada@example.com", "ada@example.com")]
    [InlineData("Ada.Lovelace+tag@Example.COM", "Ada.Lovelace+tag@example.com")]
    [InlineData("o'brien@example.co.uk", "o'brien@example.co.uk")]
    public void Valid_addresses_are_normalized_and_can_be_sent(string value, string expected)
    {
        Assert.True(InputRules.TryNormalizeEmail(value, out var normalized));
        Assert.Equal(expected, normalized);
        // The sending side parses with MimeKit's defaults: the stored address must come out unchanged.
        Assert.Equal(expected, new MailboxAddress("Ada", normalized).Address);
        Assert.True(MailboxAddress.TryParse(ParserOptions.Default, normalized, out var parsed));
        Assert.Equal(expected, parsed.Address);
    }
}
