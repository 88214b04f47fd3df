using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Scalar.AspNetCore;
using Sunaiva.ServiceDefaults;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva;

// In the hosting namespace, beside AddServiceDefaults, so Extensions.cs needs no new using.
namespace Microsoft.Extensions.Hosting;

/// <summary>The OpenAPI 3.1 document at <c>/openapi/v1.json</c> (every environment) and the Scalar reference at <c>/scalar</c> (Development).</summary>
public static class SunaivaOpenApiExtensions
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string ReferencePath = "/scalar";

    public static TBuilder AddSunaivaOpenApi<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.TryAddEnumerable(ServiceDescriptor.Transient<IApiDescriptionProvider, StandardResponsesProvider>());
        builder.Services.AddOpenApi(DocumentName, options =>
        {
            options.AddDocumentTransformer<SunaivaDocumentTransformer>();
            options.AddOperationTransformer<SunaivaOperationTransformer>();
        });
        return builder;
    }

    public static WebApplication MapSunaivaOpenApi(this WebApplication app)
    {
        // Client authors need the contract in every environment; it holds no secret.
        app.MapOpenApi().AllowAnonymous();
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference(ReferencePath, options => options
                    .WithTitle($"Sunaiva {app.Services.GetRequiredService<ServiceIdentity>().Name} API")
                    .AddPreferredSecuritySchemes(SunaivaDocumentTransformer.BearerScheme)
                    .AddHttpAuthentication(SunaivaDocumentTransformer.BearerScheme, auth => auth.Token = string.Empty)
                    .EnablePersistentAuthentication())
                .AllowAnonymous();
        }

        return app;
    }
}
