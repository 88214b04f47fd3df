using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>What an endpoint's metadata says about who may call it: no token, any valid token, or a token with roles.</summary>
internal sealed record EndpointAccess(bool RequiresToken, IReadOnlyList<string> Roles)
{
    public static readonly EndpointAccess Anonymous = new(false, []);

    /// <summary>Reads the authorization metadata the way the authorization middleware combines it.</summary>
    public static EndpointAccess From(IReadOnlyList<object> metadata, IAuthorizationPolicyProvider policies)
    {
        if (metadata.OfType<IAllowAnonymous>().Any())
        {
            return Anonymous;
        }

        var authorizeData = metadata.OfType<IAuthorizeData>().ToList();
        var inlinePolicies = metadata.OfType<AuthorizationPolicy>().ToList();
        if (authorizeData.Count == 0 && inlinePolicies.Count == 0)
        {
            return Anonymous;
        }

        // The default provider answers synchronously; combining mirrors what the middleware enforces.
        var policy = AuthorizationPolicy.CombineAsync(policies, authorizeData, inlinePolicies).GetAwaiter().GetResult();
        var roles = policy?.Requirements.OfType<Microsoft.AspNetCore.Authorization.Infrastructure.RolesAuthorizationRequirement>()
            .SelectMany(r => r.AllowedRoles)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList() ?? [];
        return new EndpointAccess(true, roles);
    }

    /// <summary>Whether a 429 can come from the rate limiter: a named policy on the endpoint, or a global limiter it does not opt out of.</summary>
    public static bool IsRateLimited(IReadOnlyList<object> metadata, RateLimiterOptions options) =>
        !metadata.OfType<DisableRateLimitingAttribute>().Any()
        && (metadata.OfType<EnableRateLimitingAttribute>().Any() || options.GlobalLimiter is not null);
}
